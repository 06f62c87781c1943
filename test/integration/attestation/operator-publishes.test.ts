// The operator attests a fleet end to end, short of a cluster: the real VaultFleet reconcile
// (FakeApiServer, fake vault members on the admin API) signs the attestation, a real directory-node
// witness process role countersigns it over HTTP (its signers directory filled from the ConfigMap
// the operator applies, as the kubelet would), a real publisher logs it in epochs, and the bundle
// the operator publishes in ConfigMap <fleet>-attestation verifies with verifyFleetBundle. Then the
// OPAQUE key changes, the second attestation chains to the first and the diff says what changed.
// Before the first one the witness is down, before the second the publisher, and the operator
// restarts each time: what it resumes with is the very envelope (and countersignature) it stored.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyDirectory, VaultFleet } from '@keyfleet/sdk/api/index';
import {
  type AttestationTrust,
  decodeBundle,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  type ValidationBundle,
  verifyFleetBundle,
} from '@keyfleet/sdk/attestation/index';
import { decodeStatement } from '@keyfleet/sdk/attestation/statement';
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import { vrfPublicKeyFromSecret } from '@keyfleet/sdk/vrf/ecvrf';
import type { V1ConfigMap, V1Node, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, startPublisher, startWitness } from '../../../directory-node/src/roles.ts';
import { keyDirectoryType } from '../../../operator/src/controllers/keydirectory/reconcile.ts';
import { FakeMembers, fleetApiServer } from '../../../operator/src/controllers/vaultfleet/fake-members.ts';
import type {
  AdminConnector,
  AdminStatus,
} from '../../../operator/src/controllers/vaultfleet/member-admin.ts';
import {
  type FleetCaches,
  FleetReconciler,
  ownedKinds,
  vaultFleetType,
} from '../../../operator/src/controllers/vaultfleet/reconcile.ts';
import { silentLogger } from '../../../operator/src/log.ts';
import { KubeClient } from '../../../operator/src/runtime/client.ts';
import { builtin, type KubeObject } from '../../../operator/src/runtime/resource.ts';
import type { FakeApiServer } from '../../../operator/src/runtime/testing/fake-apiserver.ts';
import { Label } from '../../../operator/src/specs/labels.ts';
import { testFleet } from '../../../operator/src/specs/test-fleet.ts';
import { HttpPath } from '../../../operator/src/specs/vault-contract.ts';

const NS = 'vaults';
const KD = 'keys';
const ZONES = ['dc1', 'dc2', 'dc3'];
const IMAGE = `registry.test/keyfleet/vault-node@sha256:${'ab'.repeat(32)}`;
const FLEET_UID = '0f8e6c1a-3b7d-4e2f-9a51-6c0d2b7e8f13';
const seed = (n: number) => new Uint8Array(32).fill(n);
const VRF_SECRET = seed(4);
const SIGNING_SECRET = seed(5);
const WITNESS_SECRET = seed(7);

const dir = mkdtempSync(join(tmpdir(), 'kf-operator-attest-'));
const signersDir = join(dir, 'signers');
let publisher: Running;
let witness: Running;
let api: FakeApiServer;
let members: FakeMembers;
/** What the fake members report as the fleet's OPAQUE server key (hex). */
let opaqueKey = '66'.repeat(32);
const events: string[] = [];

function apiServer(): FakeApiServer {
  return fleetApiServer(
    ZONES.map((zone) => `node-${zone}`),
    {
      extraKinds: [{ type: keyDirectoryType, statusSubresource: true }],
      zoneOf: (node) => node.slice('node-'.length),
    },
  );
}

/** A KeyDirectory pod as the lead's controller runs it (kd-contract), serving on loopback. */
function directoryPod(name: string, component: string, port: number, ready: boolean): V1Pod & KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels: {
        'app.kubernetes.io/name': 'directory-node',
        'app.kubernetes.io/instance': KD,
        'app.kubernetes.io/component': component,
        'app.kubernetes.io/managed-by': 'keyfleet-operator',
      },
    },
    spec: { containers: [{ name: 'directory-node', ports: [{ name: 'http', containerPort: port }] }] },
    status: {
      podIP: '127.0.0.1',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  } as V1Pod & KubeObject;
}

/** The fake members, with real HSM key ids (from the certificates they install) and an OPAQUE key. */
const identities = new Map<string, string>();
function vaultConnector(): AdminConnector {
  return (url, adminSeed, o) => {
    const inner = members.connect(url, adminSeed, o);
    return {
      call: async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
        const answer = await inner.call<T>(method, path, body);
        if (path === HttpPath.identityCertificate) {
          const cert = decodeCertificate(
            new Uint8Array(Buffer.from((body as { certificate: string }).certificate, 'base64url')),
          );
          identities.set(cert.subject.member, Buffer.from(cert.identityPublicKey).toString('hex'));
        }
        if (path === HttpPath.adminStatus) {
          const st = answer as AdminStatus;
          const identity = identities.get(st.member);
          return {
            ...st,
            hsmKeyId: st.hsmKeyId && identity ? identity.slice(0, 16) : null,
            opaqueServerPublicKey: opaqueKey,
          } as T;
        }
        return answer;
      },
    };
  };
}

function ofFleet<T>(type: Parameters<FakeApiServer['objects']>[0]): T[] {
  return api.objects(type, NS).filter((o) => o.metadata?.labels?.[Label.instance] === 'backups') as T[];
}

function reconciler(): FleetReconciler {
  const caches: FleetCaches = {
    fleet: (ns, name) => api.object<VaultFleet & KubeObject>(vaultFleetType, ns, name),
    pods: () => ofFleet<V1Pod>(builtin.pod),
    claims: () => ofFleet<V1PersistentVolumeClaim>(builtin.persistentVolumeClaim),
    secrets: () => ofFleet<V1Secret>(builtin.secret),
    nodes: () => api.objects(ownedKinds.node) as unknown as V1Node[],
    directoryPods: (ns, kd) =>
      (api.objects(builtin.pod, ns) as unknown as V1Pod[]).filter(
        (p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === kd,
      ),
  };
  return new FleetReconciler({
    client: new KubeClient(api),
    caches,
    events: { event: (_o, type, reason, note) => events.push(`${type} ${reason}: ${note}`) },
    connect: vaultConnector(),
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    now: () => new Date(),
    log: silentLogger,
  });
}

/** The kubelet's part: the signers ConfigMap as files in the witness's mounted directory. */
function syncSignersMount(): void {
  const cm = api.object<V1ConfigMap & KubeObject>(builtin.configMap, NS, `${KD}-attestation-signers`);
  const want = cm?.data ?? {};
  for (const f of readdirSync(signersDir)) if (!(f in want)) unlinkSync(join(signersDir, f));
  for (const [k, v] of Object.entries(want)) writeFileSync(join(signersDir, k), v);
}

const fleet = () => api.object<VaultFleet & KubeObject>(vaultFleetType, NS, 'backups');
const attested = () => fleet()?.status?.conditions?.find((c) => c.type === 'Attested');
const record = () => api.object<V1ConfigMap & KubeObject>(builtin.configMap, NS, 'backups-attestation')?.data;

/** Reconcile passes (with the kubelet's and the mount's part between them) until `done`, bounded. */
async function passUntil(r: FleetReconciler, done: () => boolean, maxPasses = 150): Promise<void> {
  for (let i = 0; i < maxPasses; i++) {
    await r.reconcile(NS, 'backups', new AbortController().signal);
    members.runPods(NS);
    syncSignersMount();
    if (done()) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`not done after ${maxPasses} passes: ${JSON.stringify(attested())}\n${events.join('\n')}`);
}

function trust(): AttestationTrust {
  const key = api.object<V1Secret & KubeObject>(builtin.secret, NS, 'backups-attestation-key');
  const caHex = api.object<V1ConfigMap & KubeObject>(builtin.configMap, NS, 'backups-trust')?.data?.[
    'manufacturer-ca.ed25519.pub'
  ];
  return {
    operatorKeys: [new Uint8Array(Buffer.from(key?.data?.['attestation.ed25519.pub'] ?? '', 'base64'))],
    witnessKeys: [ed25519.getPublicKey(WITNESS_SECRET)],
    manufacturerCaKeys: [new Uint8Array(Buffer.from(caHex ?? '', 'hex'))],
    directory: {
      vrfPublicKey: vrfPublicKeyFromSecret(VRF_SECRET),
      signingKey: ed25519.getPublicKey(SIGNING_SECRET),
    },
  };
}

const publishedBundle = (): ValidationBundle =>
  decodeBundle(new TextEncoder().encode(record()?.['bundle.json'] ?? ''));

beforeAll(async () => {
  mkdirSync(signersDir);
  const keys = join(dir, 'keys');
  mkdirSync(keys);
  const file = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(keys, name), Buffer.from(bytes).toString('hex'));
    return join(keys, name);
  };
  const log = () => {};
  publisher = await startPublisher(
    {
      namespace: `${NS}/${KD}`,
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: join(dir, 'data'),
      auditDir: join(dir, 'audit'),
      vrfKeyFile: file('vrf', VRF_SECRET),
      signingKeyFile: file('signing', SIGNING_SECRET),
      epochIntervalMs: 200,
      maxBatchSize: 100,
      maxQueueDepth: 1000,
      labelThreads: 1,
      serveReads: true,
    },
    log,
  );
  witness = await startWitness(
    {
      namespace: `${NS}/${KD}`,
      listen: { host: '127.0.0.1', port: 0 },
      directoryUrl: `http://127.0.0.1:${publisher.port}`,
      publisherPublicKeyFile: file('signing.pub', ed25519.getPublicKey(SIGNING_SECRET)),
      witnessKeyFile: file('witness', WITNESS_SECRET),
      stateDir: join(dir, 'witness'),
      pollIntervalMs: 200,
      attestationSignersDir: signersDir,
    },
    log,
  );
  api = apiServer();
  members = new FakeMembers(api);
  const { uid: _u, generation: _g, ...metadata } = testFleet().metadata;
  api.seed(vaultFleetType, {
    ...testFleet({ zones: ZONES, image: IMAGE, directoryRef: { name: KD } }),
    metadata,
  } as VaultFleet & KubeObject);
  // The fake API server names uids `uid-N`; a fleet's uid is a UUID, and the statement says so.
  api.modify(vaultFleetType, NS, 'backups', { metadata: { uid: FLEET_UID } });
  api.seed(keyDirectoryType, {
    apiVersion: 'keyfleet.dev/v1alpha1',
    kind: 'KeyDirectory',
    metadata: { name: KD, namespace: NS },
  } as KubeObject);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  api.modify(keyDirectoryType, NS, KD, {
    status: {
      vrfPublicKey: hex(vrfPublicKeyFromSecret(VRF_SECRET)),
      signingPublicKey: hex(ed25519.getPublicKey(SIGNING_SECRET)),
      witnesses: [{ name: `${KD}-witness-0`, publicKey: hex(ed25519.getPublicKey(WITNESS_SECRET)) }],
    } satisfies KeyDirectory['status'],
  });
  api.seed(builtin.pod, directoryPod(`${KD}-publisher-0`, 'publisher', publisher.port, true));
  // The witness starts not Ready: the first attestation waits for it.
  api.seed(builtin.pod, directoryPod(`${KD}-witness-0`, 'witness', witness.port, false));
}, 60_000);

afterAll(async () => {
  await witness?.close();
  await publisher?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the VaultFleet controller publishes attestations', () => {
  let first: ValidationBundle;

  it('stores the signed envelope before any witness sees it, and a restarted operator resumes with it', async () => {
    await passUntil(reconciler(), () => attested()?.reason === 'WaitingForWitness');
    const pending = record()?.['pending.json'];
    expect(pending).toMatch(/^\{"envelope"/);
    expect(record()?.['bundle.json']).toBeUndefined();
    // A new reconciler (the operator restarted), and the witness becomes Ready.
    api.modify(builtin.pod, NS, `${KD}-witness-0`, {
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    await passUntil(reconciler(), () => fleet()?.status?.attestation?.serial === 1);
    first = publishedBundle();
    expect(first.envelope).toEqual(JSON.parse(pending as string).envelope);
    expect(record()?.['pending.json']).toBe('');
  }, 60_000);

  it('publishes a bundle that verifyFleetBundle accepts, with status and Event', () => {
    const r = verifyFleetBundle(first, trust(), { now: Date.now(), maxClockSkewMs: 300_000 });
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    const p = r.statement?.predicate;
    expect(p?.serial).toBe(1);
    expect(p?.previousAttestationDigest).toBeNull();
    expect(p?.members.map((m) => m.id)).toEqual(['backups-dc1', 'backups-dc2', 'backups-dc3']);
    expect(p?.image).toEqual({ ref: IMAGE, digest: `sha256:${'ab'.repeat(32)}` });
    expect(p?.opaqueServerPublicKey).toBe('66'.repeat(32));
    expect(p?.directory).toEqual({ namespace: NS, name: KD, label: 'fleet/vaults/backups' });
    expect(fleet()?.status?.attestation).toEqual({
      serial: 1,
      digest: formatDigest(envelopeDigest(first.envelope)),
      directoryEpoch: r.directoryEpoch,
      configMap: 'backups-attestation',
      expiresAt: p?.expiresAt,
    });
    expect(attested()).toMatchObject({ status: 'True', reason: 'Attested' });
    expect(
      events.filter((e) => e.startsWith('Normal Attested: published attestation serial 1')),
    ).toHaveLength(1);
    // The witness countersigned for exactly this fleet's key, which the operator applied.
    expect(readdirSync(signersDir)).toEqual(['vaults.backups']);
  });

  it('attests again when the OPAQUE key changes, chained to the first, with the diff', async () => {
    opaqueKey = '77'.repeat(32);
    // The publisher is down: the countersigned envelope waits in the record...
    const publisherPod = `${KD}-publisher-0`;
    api.modify(builtin.pod, NS, publisherPod, {
      status: { conditions: [{ type: 'Ready', status: 'False' }] },
    });
    await passUntil(reconciler(), () => attested()?.reason === 'WaitingForDirectory');
    const stored = JSON.parse(record()?.['pending.json'] ?? '{}');
    expect(stored.countersignature).toBeDefined();
    // ...and a restarted operator logs exactly that once the publisher is back.
    api.modify(builtin.pod, NS, publisherPod, {
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    await passUntil(reconciler(), () => fleet()?.status?.attestation?.serial === 2);
    const second = publishedBundle();
    expect([second.envelope, second.countersignature]).toEqual([stored.envelope, stored.countersignature]);
    const r = verifyFleetBundle(second, trust(), {
      now: Date.now(),
      maxClockSkewMs: 300_000,
      previous: first,
    });
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    const p = decodeStatement(envelopePayload(second.envelope)).predicate;
    expect(p.serial).toBe(2);
    expect(p.previousAttestationDigest).toBe(formatDigest(envelopeDigest(first.envelope)));
    expect(second.previous?.envelope).toEqual(first.envelope);
    expect((r.changes ?? []).join('\n')).toMatch(/OPAQUE/i);
    // The first bundle is now a rollback for a client that accepted the second.
    const back = verifyFleetBundle(first, trust(), {
      now: Date.now(),
      maxClockSkewMs: 300_000,
      previous: second,
    });
    expect(back.valid).toBe(false);
    expect(back.reasons.join('\n')).toMatch(/rollback/);
  }, 60_000);

  it('re-certifies members whose certificate the operator failed to record, and attests them', async () => {
    const before = publishedBundle();
    // As if the operator had stopped between installing the certificates and recording them.
    api.remove(builtin.configMap, NS, 'backups-member-certificates');
    // Certificates carry whole seconds: re-issued within the second of the first issue they would be
    // byte-identical (nothing to attest). Let the second turn, as it would in a real restart.
    const issued = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === issued) await new Promise((res) => setTimeout(res, 50));
    await passUntil(reconciler(), () => fleet()?.status?.attestation?.serial === 3);
    const third = publishedBundle();
    const r = verifyFleetBundle(third, trust(), {
      now: Date.now(),
      maxClockSkewMs: 300_000,
      previous: before,
    });
    expect(r.reasons).toEqual([]);
    expect((r.changes ?? []).join('\n')).toMatch(/re-issued for the same key/);
    expect(events.some((e) => e.startsWith('Normal AttestationSigned: signed attestation serial 3'))).toBe(
      true,
    );
  }, 60_000);

  it('cannot be made to roll back: with its record and status lost, the witness refuses serial 1', async () => {
    api.remove(builtin.configMap, NS, 'backups-attestation');
    api.modify(vaultFleetType, NS, 'backups', { status: { attestation: null } });
    await passUntil(reconciler(), () => attested()?.reason === 'WitnessRefused');
    expect(attested()?.message).toMatch(/serial_rollback/);
    expect(record()?.['bundle.json']).toBeUndefined();
    expect(JSON.parse(record()?.['pending.json'] ?? '{}').countersignature).toBeUndefined();
    // Serial 1 was published once, long ago; the refused one never is.
    expect(
      events.filter((e) => e.startsWith('Normal Attested: published attestation serial 1 ')),
    ).toHaveLength(1);
  }, 60_000);
});
