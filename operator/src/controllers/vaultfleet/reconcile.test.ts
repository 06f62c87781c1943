import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1Node, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.ts';
import { createOperatorMetrics } from '../../metrics.ts';
import { KubeClient } from '../../runtime/client.ts';
import { builtin, type KubeObject, type Unstructured } from '../../runtime/resource.ts';
import type { FakeApiServer } from '../../runtime/testing/fake-apiserver.ts';
import { Label } from '../../specs/labels.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { Env } from '../../specs/vault-contract.ts';
import { FakeMembers, fleetApiServer } from './fake-members.ts';
import { MEMBER_ID_ANNOTATION } from './member-identity.ts';
import {
  FLEET_FINALIZER,
  type FleetCaches,
  FleetReconciler,
  ownedKinds,
  type ReconcileOutcome,
  vaultFleetType,
} from './reconcile.ts';

const NS = 'vaults';

function ofFleet<T>(
  api: FakeApiServer,
  type: Parameters<FakeApiServer['objects']>[0],
  fleet: VaultFleet,
): T[] {
  return api
    .objects(type, NS)
    .filter((o) => o.metadata?.labels?.[Label.instance] === fleet.metadata.name) as unknown as T[];
}

/** Caches that read the fake API server directly: the reconcile sees every write at once. */
function directCaches(api: FakeApiServer): FleetCaches {
  return {
    fleet: (ns, name) => api.object<VaultFleet & KubeObject>(vaultFleetType, ns, name),
    pods: (f) => ofFleet<V1Pod>(api, builtin.pod, f),
    claims: (f) => ofFleet<V1PersistentVolumeClaim>(api, builtin.persistentVolumeClaim, f),
    secrets: (f) => ofFleet<V1Secret>(api, builtin.secret, f),
    nodes: () => api.objects(ownedKinds.node) as unknown as V1Node[],
  };
}

function setup(spec: Partial<VaultFleet['spec']> = {}) {
  const api = fleetApiServer(['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'].map((z) => `node-${z}`));
  const { uid: _uid, generation: _g, ...metadata } = testFleet(spec).metadata;
  api.seed(vaultFleetType, { ...testFleet(spec), metadata } as VaultFleet & KubeObject);
  const members = new FakeMembers(api);
  const events: string[] = [];
  const metrics = createOperatorMetrics();
  const reconciler = new FleetReconciler({
    client: new KubeClient(api),
    caches: directCaches(api),
    events: { event: (_o, type, reason, note) => events.push(`${type} ${reason}: ${note}`) },
    connect: members.connect,
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    now: () => new Date(),
    metrics,
    log: silentLogger,
  });
  const pass = () => reconciler.reconcile(NS, 'backups', new AbortController().signal);
  /** Reconcile and let the kubelet run pods, until the fleet is up to date (or give up). */
  const settle = async (maxPasses = 40): Promise<ReconcileOutcome> => {
    for (let i = 0; i < maxPasses; i++) {
      const outcome = await pass();
      if (outcome.step?.reason === 'UpToDate') return outcome;
      members.runPods(NS);
    }
    throw new Error(`not settled after ${maxPasses} passes; events:\n${events.join('\n')}`);
  };
  const fleet = () => api.object<VaultFleet & KubeObject>(vaultFleetType, NS, 'backups');
  const names = (type: Parameters<FakeApiServer['objects']>[0]) =>
    api
      .objects(type, NS)
      .map((o) => o.metadata?.name)
      .sort();
  return { api, members, events, metrics, pass, settle, fleet, names };
}

const condition = (f: VaultFleet | undefined, type: string) =>
  f?.status?.conditions?.find((c) => c.type === type);

describe('VaultFleet reconcile', () => {
  it('bootstraps a seven-zone fleet: keys, shared objects, certified members, status', async () => {
    const t = setup();
    await t.settle();
    const zones = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'];
    expect(t.names(builtin.pod)).toEqual(zones.map((z) => `backups-${z}`));
    expect(t.names(builtin.persistentVolumeClaim)).toEqual(zones.map((z) => `backups-${z}-data`));
    expect(t.names(builtin.secret)).toEqual(
      [
        'backups-attestation-key',
        'backups-manufacturer-ca',
        'backups-operator-admin-key',
        ...zones.map((z) => `backups-${z}-sealing-key`),
      ].sort(),
    );
    // The certificates issued at provisioning are recorded for the attestation.
    expect(t.names(builtin.configMap)).toEqual(['backups-member-certificates', 'backups-trust']);
    expect(t.names(builtin.service)).toEqual(['backups-client', 'backups-peers']);
    expect(t.names(ownedKinds.serviceAccount)).toEqual(['backups-vault']);
    expect(t.names(ownedKinds.networkPolicy)).toEqual(['backups-members']);
    expect(t.names(ownedKinds.podDisruptionBudget)).toEqual(['backups-members']);
    const fleet = t.fleet();
    const uid = fleet?.metadata.uid;
    for (const pod of t.api.objects(builtin.pod, NS) as unknown as V1Pod[]) {
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VaultFleet', uid, controller: true });
      // Every initial member forms the fleet together.
      expect(pod.spec?.containers?.[0]?.env?.find((e) => e.name === Env.clusterState)?.value).toBe('new');
    }
    expect(t.members.certified().sort()).toEqual(zones);
    expect(fleet?.metadata.finalizers).toEqual([FLEET_FINALIZER]);
    expect(fleet?.metadata.annotations).toMatchObject({
      'keyfleet.dev/bootstrapped': 'true',
      'keyfleet.dev/bootstrap-zones': zones.join(','),
    });
    expect(fleet?.status).toMatchObject({
      phase: 'Available',
      readyMembers: 7,
      quorum: 4,
      leader: 'dc1',
      term: 1,
      commitIndex: 12,
      observedGeneration: fleet?.metadata.generation,
    });
    expect(condition(fleet, 'QuorumHealthy')?.status).toBe('True');
    expect(condition(fleet, 'Available')?.status).toBe('True');
    expect(fleet?.status?.members?.every((m) => m.ready && m.hsmKeyId?.startsWith('key-'))).toBe(true);
    expect(t.events.filter((e) => e.includes('CreatingMember'))).toHaveLength(7);
    expect(t.events.filter((e) => e.includes('CertifiedMember'))).toHaveLength(7);
    const gauge = await t.metrics.fleetMembersReady.get();
    expect(gauge.values[0]?.value).toBe(7);
  });

  it('a second pass over a settled fleet changes nothing and creates or deletes nothing', async () => {
    const t = setup();
    await t.settle();
    const rv = t.api.resourceVersion;
    const before = t.api.requests.length;
    const eventsBefore = t.events.length;
    const outcome = await t.pass();
    expect(outcome.step?.reason).toBe('UpToDate');
    expect(t.api.resourceVersion).toBe(rv);
    const writes = t.api.requests.slice(before).filter((r) => r.method === 'POST' || r.method === 'DELETE');
    expect(writes).toEqual([]);
    expect(t.events.length).toBe(eventsBefore);
  });

  it('deleting the fleet removes what it made, keeps claims and key Secrets under Retain, then the finalizer', async () => {
    const t = setup();
    await t.settle();
    await new KubeClient(t.api).delete(vaultFleetType, NS, 'backups');
    expect(t.fleet()?.metadata.deletionTimestamp).toBeDefined();
    await t.pass();
    expect(t.fleet()).toBeUndefined();
    expect(t.names(builtin.pod)).toEqual([]);
    expect(t.names(builtin.service)).toEqual([]);
    expect(t.names(builtin.configMap)).toEqual([]);
    expect(t.names(ownedKinds.podDisruptionBudget)).toEqual([]);
    expect(t.names(ownedKinds.networkPolicy)).toEqual([]);
    expect(t.names(ownedKinds.serviceAccount)).toEqual([]);
    expect(t.names(builtin.persistentVolumeClaim)).toHaveLength(7);
    // The sealing keys, the CA, the admin key and the attestation key.
    expect(t.names(builtin.secret)).toHaveLength(10);
  });

  it('under retentionPolicy Delete, deletion also removes the claims and key Secrets', async () => {
    const t = setup({ storage: { size: '1Gi', storageClassName: 'standard', retentionPolicy: 'Delete' } });
    await t.settle();
    await new KubeClient(t.api).delete(vaultFleetType, NS, 'backups');
    await t.pass();
    expect(t.fleet()).toBeUndefined();
    expect(t.names(builtin.persistentVolumeClaim)).toEqual([]);
    expect(t.names(builtin.secret)).toEqual([]);
  });

  it('a paused fleet gets a status and nothing else', async () => {
    const t = setup({ paused: true });
    const outcome = await t.pass();
    expect(outcome.step?.reason).toBe('Paused');
    for (const type of [
      builtin.pod,
      builtin.secret,
      builtin.service,
      builtin.configMap,
      builtin.persistentVolumeClaim,
    ]) {
      expect(t.names(type)).toEqual([]);
    }
    expect(t.fleet()?.metadata.finalizers ?? []).toEqual([]);
    expect(t.fleet()?.status?.phase).toBe('Paused');
  });

  it('pausing a running fleet stops it from recreating a lost pod', async () => {
    const t = setup();
    await t.settle();
    t.api.modify(vaultFleetType, NS, 'backups', { spec: { paused: true } });
    t.api.remove(builtin.pod, NS, 'backups-dc3');
    await t.pass();
    expect(t.names(builtin.pod)).not.toContain('backups-dc3');
  });

  it('a lost pod is recreated on its claim, as an existing member, and the fleet settles again', async () => {
    const t = setup();
    await t.settle();
    t.api.remove(builtin.pod, NS, 'backups-dc3');
    t.members.forget('dc3');
    const outcome = await t.pass();
    expect(outcome.step).toMatchObject({ kind: 'RecreateMember', zone: 'dc3', cause: 'pod-missing' });
    const pod = t.api.object<Unstructured>(builtin.pod, NS, 'backups-dc3') as unknown as V1Pod;
    expect(pod.spec?.containers?.[0]?.env?.find((e) => e.name === Env.clusterState)?.value).toBe('existing');
    expect(t.events.some((e) => e.includes('RecreatingMember'))).toBe(true);
  });

  it('a member whose claim is lost leaves the group and rejoins empty under a new member id', async () => {
    const t = setup();
    await t.settle();
    t.api.modify(builtin.persistentVolumeClaim, NS, 'backups-dc3-data', { status: { phase: 'Lost' } });
    await t.settle(60);
    const claim = t.api.object<Unstructured>(
      builtin.persistentVolumeClaim,
      NS,
      'backups-dc3-data',
    ) as unknown as V1PersistentVolumeClaim;
    const id = claim.metadata?.annotations?.[MEMBER_ID_ANNOTATION] as string;
    expect(id).toMatch(/^backups-dc3-[0-9a-f]{4}$/);
    const pod = t.api.object<Unstructured>(builtin.pod, NS, 'backups-dc3') as unknown as V1Pod;
    expect(pod.spec?.hostname).toBe(id);
    expect(pod.spec?.containers?.[0]?.env?.find((e) => e.name === Env.memberId)?.value).toBe(id);
    expect(pod.spec?.containers?.[0]?.env?.find((e) => e.name === Env.clusterState)?.value).toBe('existing');
    // Removed first under the old id; the new id joins as a learner and is promoted.
    expect(t.members.changes).toEqual(['remove backups-dc3', `add-learner ${id}`, `promote ${id}`]);
    expect(t.members.voters).toContain(id);
    expect(t.members.voters).not.toContain('backups-dc3');
    expect(t.fleet()?.status?.readyMembers).toBe(7);
  });

  it('an image change rolls one member at a time, the leader last after handing over leadership', async () => {
    const t = setup();
    await t.settle();
    t.api.modify(vaultFleetType, NS, 'backups', { spec: { image: 'ghcr.io/keyfleet/vault-node:0.1.1' } });
    const steps: string[] = [];
    for (let i = 0; i < 80; i++) {
      const outcome = await t.pass();
      const s = outcome.step;
      if (s?.kind === 'UpdateMember') steps.push(`update ${s.zone}`);
      if (s?.kind === 'TransferLeadership') steps.push(`transfer ${s.from}->${s.to}`);
      if (s?.reason === 'UpToDate') break;
      // Never more than one member down at a time (maxUnavailable 1).
      const pods = t.api.objects(builtin.pod, NS) as unknown as V1Pod[];
      expect(pods.filter((p) => !p.status?.podIP).length + (7 - pods.length)).toBeLessThanOrEqual(1);
      t.members.runPods(NS);
    }
    expect(steps).toEqual([
      'update dc2',
      'update dc3',
      'update dc4',
      'update dc5',
      'update dc6',
      'update dc7',
      'transfer dc1->dc2',
      'update dc1',
    ]);
    expect(t.members.changes).toEqual(['transfer backups-dc2']);
    const images = (t.api.objects(builtin.pod, NS) as unknown as V1Pod[]).map(
      (p) => p.spec?.containers?.[0]?.image,
    );
    expect(new Set(images)).toEqual(new Set(['ghcr.io/keyfleet/vault-node:0.1.1']));
    expect(t.fleet()?.status).toMatchObject({ phase: 'Available', leader: 'dc2', readyMembers: 7 });
  });

  it('keeps the CA and admin key Secrets it finds instead of generating new ones', async () => {
    const t = setup();
    await t.pass();
    const ca = t.api.object<Unstructured>(builtin.secret, NS, 'backups-manufacturer-ca');
    await t.settle();
    expect(t.api.object<Unstructured>(builtin.secret, NS, 'backups-manufacturer-ca')).toEqual(ca);
  });
});
