// The VaultFleet controller end to end: the CRDs and crds/examples/vaultfleet.yaml applied, the
// operator running as a process on the host (`node operator/src/main.ts --kubeconfig ...`), seven
// vault-node members formed and certified by it; a backup key registered and recovered through a
// member's client port with the members' certificates pinned; a deleted member pod coming back.
// Prints the time from apply to seven ready members and the time to heal a deleted pod.
import { join } from 'node:path';
import { BackupClient, httpTransport } from '@keyfleet/sdk/backup/client';
import { trustedMembersFromCertificates } from '@keyfleet/sdk/hsm/certificate';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from '../src/config.ts';
import {
  ensureNamespace,
  isReady,
  Kube,
  kubectl,
  type Obj,
  type PodObj,
  until,
  yamlDocs,
} from './helpers.ts';
import { type OperatorProcess, startOperatorProcess } from './operator-process.ts';

const ns = 'vaults';
const kube = new Kube();
const fleetPath = `/apis/keyfleet.dev/v1alpha1/namespaces/${ns}/vaultfleets/backups`;
const podsPath = `/api/v1/namespaces/${ns}/pods`;
const figures: Record<string, number> = {};
let operator: OperatorProcess | undefined;
/** What the client test escrowed, to recover again after a member is rebuilt. */
let escrowed:
  | { key: Uint8Array; trustedMembers: Map<string, Uint8Array>; caPublicKey: Uint8Array }
  | undefined;
let operatorLog = '';

interface FleetObj extends Obj {
  status?: {
    readyMembers?: number;
    leader?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    members?: { zone: string; pod?: string; ready?: boolean; hsmKeyId?: string }[];
  };
}

const condition = (f: FleetObj | undefined, type: string) =>
  f?.status?.conditions?.find((c) => c.type === type);

async function fleetReady(): Promise<FleetObj | false> {
  const f = await kube.getOrUndefined<FleetObj>(fleetPath);
  return f?.status?.readyMembers === 7 && condition(f, 'QuorumHealthy')?.status === 'True' ? f : false;
}

async function memberPods(): Promise<PodObj[]> {
  const list = await kube.list<PodObj>(`${podsPath}?labelSelector=app.kubernetes.io/instance%3Dbackups`);
  return list.items;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The members' identity keys, from the certificates they serve on the peer port: the client pins
 * the keys that chain to the fleet's CA (what the fleet attestation will carry).
 */
async function trustedFrom(pods: PodObj[], caPublicKey: Uint8Array): Promise<Map<string, Uint8Array>> {
  const certificates = await Promise.all(
    pods.map(async (p) => {
      const res = await fetch(`http://${p.status?.podIP}:7000/v1/fleet/identity`, {
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) throw new Error(`${p.metadata.name}: identity HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }),
  );
  return trustedMembersFromCertificates(certificates, {
    trustAnchors: [caPublicKey],
    now: Math.floor(Date.now() / 1000),
    fleet: `${ns}/backups`,
  });
}

/** Recovers the escrowed key through `target`, trusting the certificates `members` serve. */
async function recoverThrough(target: PodObj, members: PodObj[]): Promise<boolean> {
  if (!escrowed) throw new Error('nothing escrowed yet');
  const client = new BackupClient({
    fleetId: `${ns}/backups`,
    trustedMembers: await trustedFrom(members, escrowed.caPublicKey),
    transport: httpTransport(`http://${target.status?.podIP}:8080`, { timeoutMs: 10_000 }),
  });
  return equal(await client.recover('alice', 'correct horse battery staple'), escrowed.key);
}

beforeAll(async () => {
  // Only the VaultFleet CRD: this file tests its controller (10-crds checks every CRD of crds/).
  const crd = join(repoRoot, 'crds/vaultfleets.keyfleet.dev.yaml');
  const r = await kubectl('apply', '--server-side', '--force-conflicts', '-f', crd);
  if (r.code !== 0) throw new Error(`applying ${crd}: ${r.stderr}`);
  await until('the VaultFleet CRD served', () =>
    kube.getOrUndefined('/apis/keyfleet.dev/v1alpha1/namespaces/default/vaultfleets'),
  );
  await ensureNamespace(kube, ns);
  operator = startOperatorProcess(ns, '40-vaultfleet');
  operatorLog = operator.logFile;
});

afterAll(async () => {
  // Delete the fleet while the operator runs (its finalizer cleans up), then stop the operator and
  // remove the namespace with the retained claims.
  await kube.delete(fleetPath).catch(() => false);
  await until(
    'the fleet deleted',
    async () => (await kube.getOrUndefined(fleetPath)) === undefined,
    60_000,
  ).catch((e: Error) => process.stderr.write(`40-vaultfleet cleanup: ${e.message}\n`));
  await operator?.stop();
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(() => false);
  process.stderr.write(`40-vaultfleet figures: ${JSON.stringify(figures)} (operator log ${operatorLog})\n`);
}, 180_000);

describe('VaultFleet controller on the local cluster', () => {
  test('apply -> seven members Ready and QuorumHealthy', async () => {
    const started = Date.now();
    const [fleet] = yamlDocs(join(repoRoot, 'crds/examples/vaultfleet.yaml'));
    const r = await kubectl('apply', '--server-side', '-f', join(repoRoot, 'crds/examples/vaultfleet.yaml'));
    expect(r.code, r.stderr).toBe(0);
    expect(fleet?.metadata.name).toBe('backups');
    // Each member's HSM key id comes from its own status answer: wait until every one has reported.
    const ready = await until(
      'seven ready, certified members and QuorumHealthy',
      async () => {
        const f = await fleetReady();
        return f && f.status?.members?.filter((m) => m.ready && m.hsmKeyId).length === 7 ? f : false;
      },
      170_000,
      1000,
    );
    figures['applyToReadySeconds'] = (Date.now() - started) / 1000;
    expect(ready.status?.members?.filter((m) => m.ready && m.hsmKeyId)).toHaveLength(7);
    expect(condition(ready, 'Available')?.status).toBe('True');
    const pods = await memberPods();
    expect(pods.filter(isReady)).toHaveLength(7);
  }, 180_000);

  test('a client registers and recovers a backup key through a member', async () => {
    const trust = await kube.get<Obj & { data: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/configmaps/backups-trust`,
    );
    const caPublicKey = hexToBytes(trust.data['manufacturer-ca.ed25519.pub'] as string);
    const pods = (await memberPods()).filter(isReady);
    const fleetId = `${ns}/backups`;
    const trustedMembers = await trustedFrom(pods, caPublicKey);
    expect(trustedMembers.size).toBe(7);
    const client = new BackupClient({
      fleetId,
      trustedMembers,
      transport: httpTransport(`http://${pods[0]?.status?.podIP}:8080`),
    });
    const key = crypto.getRandomValues(new Uint8Array(32));
    escrowed = { key, trustedMembers, caPublicKey };
    await client.register('alice', 'correct horse battery staple', key);
    const other = new BackupClient({
      fleetId,
      trustedMembers,
      transport: httpTransport(`http://${pods[4]?.status?.podIP}:8080`),
    });
    expect(await other.recover('alice', 'correct horse battery staple')).toEqual(key);
  }, 120_000);

  test('a deleted member pod comes back Ready and the fleet is whole again', async () => {
    const before = (await memberPods()).find((p) => p.metadata.name === 'backups-dc3');
    expect(before).toBeDefined();
    const started = Date.now();
    await kube.delete(`${podsPath}/backups-dc3`);
    await until(
      'a new backups-dc3 pod Ready',
      async () => {
        const p = (await memberPods()).find((x) => x.metadata.name === 'backups-dc3');
        return p !== undefined && p.metadata.uid !== before?.metadata.uid && isReady(p);
      },
      150_000,
      500,
    );
    await until('seven ready members again', fleetReady, 60_000, 1000);
    figures['healDeletedPodSeconds'] = (Date.now() - started) / 1000;
  }, 240_000);
  test('a member whose claim is deleted rejoins empty under a new member id and catches up', async () => {
    const started = Date.now();
    await kube.delete(`/api/v1/namespaces/${ns}/persistentvolumeclaims/backups-dc5-data`);
    const memberId = (p: PodObj | undefined) =>
      (
        (p?.spec as { containers?: { env?: { name: string; value?: string }[] }[] } | undefined)
          ?.containers?.[0]?.env ?? []
      ).find((e) => e.name === 'KEYFLEET_MEMBER_ID')?.value;
    const rebuilt = await until(
      'backups-dc5 Ready under a new member id',
      async () => {
        const p = (await memberPods()).find((x) => x.metadata.name === 'backups-dc5');
        const id = memberId(p);
        return p !== undefined && isReady(p) && id !== undefined && id !== 'backups-dc5'
          ? { pod: p, id }
          : false;
      },
      170_000,
      1000,
    );
    await until('seven ready members again', fleetReady, 60_000, 1000);
    figures['rebuildLostClaimSeconds'] = (Date.now() - started) / 1000;
    // The rebuilt member holds the record escrowed before it lost its volume (from a snapshot or
    // the log), and answers with its new certified identity.
    const res = await fetch(`http://${rebuilt.pod.status?.podIP}:7000/v1/fleet/identity`, {
      signal: AbortSignal.timeout(5000),
    });
    const trusted = trustedMembersFromCertificates([new Uint8Array(await res.arrayBuffer())], {
      trustAnchors: [escrowed?.caPublicKey as Uint8Array],
      now: Math.floor(Date.now() / 1000),
      fleet: `${ns}/backups`,
    });
    expect([...trusted.keys()]).toEqual([rebuilt.id]);
    const client = new BackupClient({
      fleetId: `${ns}/backups`,
      trustedMembers: new Map([...(escrowed?.trustedMembers ?? []), ...trusted]),
      transport: httpTransport(`http://${rebuilt.pod.status?.podIP}:8080`),
    });
    expect(await client.recover('alice', 'correct horse battery staple')).toEqual(escrowed?.key);
  }, 240_000);
  test('an image change rolls the members one at a time and the key stays recoverable', async () => {
    const image = 'ghcr.io/keyfleet/vault-node:0.1.1';
    const before = await kube.get<FleetObj>(fleetPath);
    const started = Date.now();
    await kube.mergePatch(fleetPath, { spec: { image } });
    let attempts = 0;
    let failures = 0;
    let maxUnready = 0;
    const onNewImage = (p: PodObj) =>
      (p.spec as { containers?: { image?: string }[] }).containers?.[0]?.image === image;
    await until(
      'every member on the new image and the fleet whole',
      async () => {
        const pods = await memberPods();
        maxUnready = Math.max(maxUnready, 7 - pods.filter(isReady).length);
        // Steady client load: one recovery per poll through a member that is ready right now.
        const target = pods.filter(isReady)[attempts % 5];
        if (target && escrowed) {
          attempts++;
          // Any error counts: a member stopping under the request, or its certificate unreadable.
          const ok = await recoverThrough(target, pods.filter(isReady)).catch(() => false);
          if (!ok) failures++;
        }
        return pods.length === 7 && pods.every(onNewImage) && (await fleetReady());
      },
      230_000,
      1000,
    );
    figures['rolloutSeconds'] = (Date.now() - started) / 1000;
    figures['rolloutRecoveries'] = attempts;
    figures['rolloutFailedRecoveries'] = failures;
    figures['rolloutMaxUnreadyMembers'] = maxUnready;
    const after = await kube.get<FleetObj>(fleetPath);
    const ready = (await memberPods()).filter(isReady);
    expect(await recoverThrough(ready[6] as PodObj, ready)).toBe(true);
    // The leader was updated last, after handing over: another member leads now.
    expect(after.status?.leader).not.toBe(before.status?.leader);
    expect(attempts).toBeGreaterThan(0);
  }, 240_000);
});
