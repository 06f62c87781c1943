// The VaultFleet controller end to end: the CRD and crds/examples/vaultfleet.yaml applied, the
// operator running as a process on the host (`node operator/src/main.ts --kubeconfig ...`), seven
// vault-node members formed and certified by it; a backup key registered and recovered through a
// member's client port with the members' certificates pinned, and by the keyfleet CLI from inside
// the cluster through the client Service; then the faults of the issue: a deleted pod, a lost
// claim, an image rollout under client load (leader last), three pods deleted at once and a zone
// partitioned, four zones lost and returned, the operator killed mid-rollout with a standby taking
// over, and the fleet deleted (Retain keeps its data). Prints the figures of each.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupClient, httpTransport } from '@keyfleet/sdk/backup/client';
import { trustedMembersFromCertificates } from '@keyfleet/sdk/hsm/certificate';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot, stateDir } from '../src/config.ts';
import { faults } from '../src/control-client.ts';
import { applyCrd } from '../src/keyfleet.ts';
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
import { memberKeys } from './vault-client.ts';

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
/** Member identity keys seen so far (a rebuilt member joins under a new id with a new key). */
const knownMembers = new Map<string, Uint8Array>();
/** Why recoveries through a member failed (printed with the figures). */
const recoveryErrors: string[] = [];

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

const trustedFrom = (pods: PodObj[], caPublicKey: Uint8Array) =>
  memberKeys(pods, caPublicKey, `${ns}/backups`);

/**
 * A recovery as a client behind the client Service sees it: through a Ready member, and when that
 * member fails under the request (stopping, or the leader just changed), again through the next
 * Ready one, up to `tries` members. Each attempt with the right password is a counted guess that
 * the right password resets, so retrying costs the user nothing.
 */
/**
 * One recovery, through Ready members (those `among` keeps) in turn from `offset` until one serves
 * it, as a client behind the Service would; what fails is kept for the log under `label`.
 */
async function recoverAny(
  tries = 3,
  offset = 0,
  among: (pod: PodObj) => boolean = () => true,
  label = '',
): Promise<boolean> {
  const ready = (await memberPods()).filter((p) => isReady(p) && among(p));
  for (let i = 0; i < Math.min(tries, ready.length); i++) {
    const target = ready[(offset + i) % ready.length] as PodObj;
    const ok = await recoverThrough(target, ready).catch((e: Error) => {
      recoveryErrors.push(`${label}${target.metadata.name}: ${e.message}`);
      return false;
    });
    if (ok) return true;
  }
  return false;
}

/** Recovers the escrowed key through `target`, trusting the certificates `members` serve. */
async function recoverThrough(target: PodObj, members: PodObj[]): Promise<boolean> {
  if (!escrowed) throw new Error('nothing escrowed yet');
  // The keys learned so far plus what the members serve now: a member restarting this second
  // keeps its identity key (its HSM is on its claim), so a client keeps trusting it.
  for (const [id, k] of await trustedFrom(members, escrowed.caPublicKey)) knownMembers.set(id, k);
  const client = new BackupClient({
    fleetId: `${ns}/backups`,
    trustedMembers: new Map([...escrowed.trustedMembers, ...knownMembers]),
    transport: httpTransport(`http://${target.status?.podIP}:8080`, { timeoutMs: 10_000 }),
  });
  return equal(await client.recover('alice', 'correct horse battery staple'), escrowed.key);
}

beforeAll(async () => {
  // Only the VaultFleet CRD: this file tests its controller (10-crds checks every CRD of crds/).
  await applyCrd(kube, 'VaultFleet');
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
  if (recoveryErrors.length > 0) {
    process.stderr.write(
      `40-vaultfleet recovery errors (retried):\n  ${recoveryErrors.slice(-20).join('\n  ')}\n`,
    );
  }
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

    // The keyfleet CLI from inside the cluster (a member pod's network namespace), through the
    // fleet's client Service by its DNS name, as an in-cluster client would call it.
    const dir = join(stateDir, '40-vaultfleet');
    mkdirSync(dir, { recursive: true });
    const certificates = await Promise.all(
      pods.map(async (p) =>
        Buffer.from(
          await (await fetch(`http://${p.status?.podIP}:7000/v1/fleet/identity`)).arrayBuffer(),
        ).toString('base64url'),
      ),
    );
    const trustFile = join(dir, 'trust.json');
    writeFileSync(
      trustFile,
      JSON.stringify({
        fleetId,
        manufacturerCa: Buffer.from(caPublicKey).toString('hex'),
        certificates,
        url: `http://backups-client.${ns}.svc.cluster.local:8080`,
      }),
    );
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'correct horse battery staple\n');
    const viaService = await faults.exec(
      ns,
      'backups-dc2',
      [
        'node',
        'sdk/src/cli/main.ts',
        'backup',
        'recover',
        '--trust',
        trustFile,
        '--insecure-skip-attestation',
        '--user',
        'alice',
        '--password-file',
        passwordFile,
        '--json',
      ],
      undefined,
      90_000,
    );
    expect(viaService.code, viaService.stderr + viaService.stdout).toBe(0);
    expect(JSON.parse(viaService.stdout).backupKey).toBe(Buffer.from(key).toString('hex'));
  }, 180_000);

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
        // Steady client load: one recovery per poll, retried through the next Ready member when
        // the first fails under the request (as a client behind the Service would).
        if (escrowed) {
          attempts++;
          if (!(await recoverAny(7, attempts))) failures++;
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
    expect(failures, 'recoveries that failed through every Ready member').toBe(0);
    expect(maxUnready).toBeLessThanOrEqual(1);
  }, 240_000);

  test('three member pods deleted at once (and held down), then a zone partitioned: recoveries keep working', async () => {
    const started = Date.now();
    const victims = ['backups-dc1', 'backups-dc2', 'backups-dc6'];
    const oldUids = new Map((await memberPods()).map((p) => [p.metadata.name, p.metadata.uid]));
    await Promise.all(victims.map((v) => kube.delete(`${podsPath}/${v}`)));
    let degradedSuccesses = 0;
    let failures = 0;
    await until(
      'seven ready members after three were deleted',
      async () => {
        const pods = await memberPods();
        const ok = await recoverAny(4);
        if (ok && pods.filter(isReady).length < 7) degradedSuccesses++;
        if (!ok) failures++;
        // Healed means the three pods were replaced and are Ready: the fleet's status alone can
        // still say Ready from before the operator saw the deletion (it did, in a CI run).
        const replaced = victims.every((v) => {
          const pod = pods.find((p) => p.metadata.name === v);
          return pod !== undefined && pod.metadata.uid !== oldUids.get(v) && isReady(pod);
        });
        return replaced && (await fleetReady());
      },
      200_000,
      1000,
    );
    figures['healThreeDeletedSeconds'] = (Date.now() - started) / 1000;
    figures['healThreeFailedRecoveries'] = failures;
    figures['healThreeDegradedSuccesses'] = degradedSuccesses;
    // A member that led may have been among the three: allow the election after the heal.
    expect(await until('a recovery through the healed fleet', () => recoverAny(7), 30_000, 1000)).toBe(true);

    // How long three members stay down after a delete depends on the machine (they may be back
    // before a recovery could be tried); to prove the four others serve alone, hold the same three
    // down: cut them off the network, then recover three times through the four.
    for (const v of victims) await faults.isolatePod(ns, v);
    try {
      const four = (p: PodObj) => !victims.includes(p.metadata.name);
      let served = 0;
      for (let i = 0; i < 3; i++) if (await recoverAny(4, 0, four, 'three isolated, ')) served++;
      expect(served, 'recoveries through the four members left').toBe(3);
    } finally {
      for (const v of victims) await faults.unisolatePod(ns, v);
    }
    await until('seven ready members after the isolation ended', fleetReady, 120_000, 1000);

    await faults.partitionZone('dc4');
    try {
      // Each recovery goes through the reachable members in turn until one serves it, as a client
      // behind the Service would: a member just back from isolation can still show Ready while its
      // connections are re-established (a CI run tried one such member five times).
      const reachable = (p: PodObj) => p.metadata.name !== 'backups-dc4';
      let ok = 0;
      for (let i = 0; i < 5; i++) if (await recoverAny(6, i, reachable, 'dc4 partitioned, ')) ok++;
      expect(ok, 'recoveries through the six reachable zones').toBe(5);
    } finally {
      await faults.heal();
    }
    await until('seven ready members after the partition healed', fleetReady, 120_000, 1000);
  }, 360_000);

  test('four zones lost: writes stop, nothing acknowledged is lost, the fleet recovers when they return', async () => {
    const lost = ['dc4', 'dc5', 'dc6', 'dc7'];
    for (const zone of lost) await faults.partitionZone(zone);
    let heal = Date.now();
    try {
      const minority = (await memberPods()).filter((p) =>
        ['backups-dc1', 'backups-dc2', 'backups-dc3'].includes(p.metadata.name),
      );
      const trusted = await trustedFrom(minority, escrowed?.caPublicKey as Uint8Array);
      const client = new BackupClient({
        fleetId: `${ns}/backups`,
        trustedMembers: new Map([...(escrowed?.trustedMembers ?? []), ...trusted]),
        transport: httpTransport(`http://${minority[0]?.status?.podIP}:8080`, { timeoutMs: 8_000 }),
      });
      // Three of seven cannot commit: a new escrow and a recovery (which commits its guess first)
      // are both refused, never acknowledged.
      await expect(
        client.register('dave', 'daves password', crypto.getRandomValues(new Uint8Array(32))),
      ).rejects.toThrow();
      await expect(client.recover('alice', 'correct horse battery staple')).rejects.toThrow();
      heal = Date.now();
    } finally {
      await faults.heal();
    }
    await until('seven ready members after four zones returned', fleetReady, 180_000, 1000);
    figures['fourZonesReturnedToReadySeconds'] = (Date.now() - heal) / 1000;
    expect(await recoverAny(7)).toBe(true);
  }, 300_000);

  test('the operator killed mid-rollout: its standby takes the Lease and finishes the roll safely', async () => {
    const standby = startOperatorProcess(ns, '40-vaultfleet-standby');
    const image = 'ghcr.io/keyfleet/vault-node:0.1.2';
    const started = Date.now();
    await kube.mergePatch(fleetPath, { spec: { image } });
    const onNewImage = (p: PodObj) =>
      (p.spec as { containers?: { image?: string }[] }).containers?.[0]?.image === image;
    let maxUnready = 0;
    await until(
      'the first member on the new image',
      async () => {
        const pods = await memberPods();
        maxUnready = Math.max(maxUnready, 7 - pods.filter(isReady).length);
        return pods.some(onNewImage);
      },
      120_000,
      500,
    );
    operator?.child.kill('SIGKILL');
    operator = standby;
    let failures = 0;
    await until(
      'every member on the new image under the standby operator',
      async () => {
        const pods = await memberPods();
        maxUnready = Math.max(maxUnready, 7 - pods.filter(isReady).length);
        if (!(await recoverAny(3))) failures++;
        return pods.length === 7 && pods.every(onNewImage) && (await fleetReady());
      },
      240_000,
      1000,
    );
    figures['rolloutWithOperatorKilledSeconds'] = (Date.now() - started) / 1000;
    figures['rolloutWithOperatorKilledFailedRecoveries'] = failures;
    expect(maxUnready, 'members unready at once').toBeLessThanOrEqual(1);
    expect(failures).toBe(0);
  }, 300_000);

  test('deleting the fleet removes everything it owns; Retain keeps the claims and sealing keys', async () => {
    await kube.delete(fleetPath);
    await until(
      'the fleet gone',
      async () => (await kube.getOrUndefined(fleetPath)) === undefined,
      120_000,
      1000,
    );
    await until('its pods gone', async () => (await memberPods()).length === 0, 120_000, 1000);
    const left = async (plural: string, group = '/api/v1') =>
      (
        await kube.list<Obj>(
          `${group}/namespaces/${ns}/${plural}?labelSelector=${encodeURIComponent('app.kubernetes.io/instance=backups')}`,
        )
      ).items.map((o) => o.metadata.name);
    await until('owned objects collected', async () => (await left('services')).length === 0, 60_000, 1000);
    expect(await left('poddisruptionbudgets', '/apis/policy/v1')).toEqual([]);
    expect(await left('networkpolicies', '/apis/networking.k8s.io/v1')).toEqual([]);
    expect(await left('configmaps')).toEqual([]);
    // retentionPolicy Retain (the example's): the data and the keys that open it stay.
    expect((await left('persistentvolumeclaims')).length).toBe(7);
    expect((await left('secrets')).filter((n) => n?.includes('sealing-key'))).toHaveLength(7);
  }, 300_000);
});
