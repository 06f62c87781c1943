import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.ts';
import { createOperatorMetrics } from '../../metrics.ts';
import { KubeClient } from '../../runtime/client.ts';
import { builtin, type KubeObject } from '../../runtime/resource.ts';
import { FakeApiServer } from '../../runtime/testing/fake-apiserver.ts';
import { testDirectory } from '../../specs/directory/test-directory.ts';
import { Label } from '../../specs/labels.ts';
import type { JsonGetter } from './observe.ts';
import { type DirectoryCaches, DirectoryReconciler, directoryKinds, keyDirectoryType } from './reconcile.ts';

const NS = 'vaults';

function setup(spec: Partial<KeyDirectory['spec']> = {}) {
  const api = new FakeApiServer([
    { type: keyDirectoryType, statusSubresource: true },
    builtin.pod,
    builtin.secret,
    builtin.configMap,
    builtin.service,
    builtin.persistentVolumeClaim,
    builtin.lease,
    builtin.event,
    ...Object.values(directoryKinds),
  ]);
  const { uid: _u, generation: _g, ...metadata } = testDirectory(spec).metadata;
  api.seed(keyDirectoryType, { ...testDirectory(spec), metadata } as KeyDirectory & KubeObject);
  const of = <T>(type: Parameters<FakeApiServer['objects']>[0], kd: KeyDirectory) =>
    api
      .objects(type, NS)
      .filter((o) => o.metadata?.labels?.[Label.instance] === kd.metadata.name) as unknown as T[];
  const caches: DirectoryCaches = {
    directory: (ns, name) => api.object<KeyDirectory & KubeObject>(keyDirectoryType, ns, name),
    pods: (kd) => of<V1Pod>(builtin.pod, kd),
    secrets: (kd) => of<V1Secret>(builtin.secret, kd),
    statefulSets: (kd) => of<V1StatefulSet>(directoryKinds.statefulSet, kd),
  };
  const answers = new Map<string, unknown>();
  const asked: string[] = [];
  const get: JsonGetter = async (url) => {
    asked.push(url);
    if (!answers.has(url)) throw new Error(`connect ECONNREFUSED ${url}`);
    return answers.get(url);
  };
  const events: string[] = [];
  let nowMs = Date.UTC(2026, 10, 23, 12);
  const reconciler = new DirectoryReconciler({
    client: new KubeClient(api),
    caches,
    events: { event: (_o, type, reason, note) => events.push(`${type} ${reason}: ${note}`) },
    get,
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    now: () => new Date(nowMs),
    metrics: createOperatorMetrics(),
    log: silentLogger,
  });
  const pass = () => reconciler.reconcile(NS, 'transparency', new AbortController().signal);
  const kd = () =>
    api.object<KeyDirectory & KubeObject>(keyDirectoryType, NS, 'transparency') as KeyDirectory;
  const names = (type: Parameters<FakeApiServer['objects']>[0]) =>
    api
      .objects(type, NS)
      .map((o) => o.metadata?.name)
      .sort();
  const runPod = (
    name: string,
    component: string,
    ip: string,
    ready: boolean,
    extra: Record<string, string> = {},
  ) =>
    api.seed(builtin.pod, {
      metadata: {
        name,
        namespace: NS,
        labels: {
          [Label.name]: 'directory-node',
          [Label.instance]: 'transparency',
          [Label.component]: component,
          ...extra,
        },
      },
      status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    } as KubeObject);
  return { api, answers, asked, events, pass, kd, names, runPod, advance: (ms: number) => (nowMs += ms) };
}

describe('KeyDirectory reconcile', () => {
  it('first pass: keys once, the Lease, every object; later passes replace no key', async () => {
    const t = setup({ witnesses: 2 });
    await t.pass();
    expect(t.names(builtin.secret)).toEqual([
      'transparency-signing-key',
      'transparency-vrf-key',
      'transparency-witness-0-key',
      'transparency-witness-1-key',
    ]);
    expect(t.names(builtin.lease)).toEqual(['transparency-publisher']);
    expect(t.names(directoryKinds.deployment)).toEqual(['transparency-publisher', 'transparency-reader']);
    expect(t.names(directoryKinds.statefulSet)).toEqual(['transparency-witness-0', 'transparency-witness-1']);
    expect(t.names(builtin.service)).toEqual([
      'transparency',
      'transparency-publisher',
      'transparency-witness',
    ]);
    expect(t.names(builtin.persistentVolumeClaim)).toEqual(['transparency-audit', 'transparency-data']);
    expect(t.names(directoryKinds.role)).toEqual(['transparency-publisher']);
    const keysBefore = t.api.objects(builtin.secret, NS).map((s) => JSON.stringify((s as V1Secret).data));
    await t.pass();
    await t.pass();
    const keysAfter = t.api.objects(builtin.secret, NS).map((s) => JSON.stringify((s as V1Secret).data));
    expect(keysAfter).toEqual(keysBefore);
    expect(t.events.filter((e) => e.includes('CreatedKey'))).toHaveLength(4);
    const status = t.kd().status;
    expect(status?.vrfPublicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(status?.witnesses?.map((w) => w.name)).toEqual([
      'transparency-witness-0-0',
      'transparency-witness-1-0',
    ]);
    expect(status?.phase).toBe('Pending');
    const cm = t.api.object(builtin.configMap, NS, 'transparency-public-keys') as {
      data: Record<string, string>;
    };
    expect(cm.data['signing-public-key']).toBe(status?.signingPublicKey);
  });

  it('reports the writer epoch, the queue and the witnesses, and a stalled queue', async () => {
    const t = setup();
    await t.pass();
    t.runPod('transparency-publisher-a', 'publisher', '10.244.1.5', true, {
      'keyfleet.dev/serves-reads': 'true',
    });
    t.runPod('transparency-publisher-b', 'publisher', '10.244.1.6', false);
    t.runPod('transparency-reader-a', 'reader', '10.244.1.7', true);
    t.runPod('transparency-reader-b', 'reader', '10.244.1.8', true);
    t.runPod('transparency-witness-0-0', 'witness', '10.244.2.9', true, { 'keyfleet.dev/witness': '0' });
    const head = {
      epoch: 7,
      rootHash: 'ab'.repeat(32),
      timestamp: Date.UTC(2026, 10, 23, 11, 59),
      namespace: 'vaults/transparency',
    };
    t.answers.set('http://10.244.1.5:8080/v1/epochs/latest', head);
    t.answers.set('http://10.244.1.5:8080/v1/changes/pending', { pending: 3 });
    t.answers.set('http://10.244.2.9:8080/namespaces', {
      namespaces: [{ name: 'vaults/transparency', lastVerifiedEpoch: 6, status: 'online' }],
    });
    await t.pass();
    let s = t.kd().status;
    expect(s).toMatchObject({
      phase: 'Available',
      currentEpoch: 7,
      rootHash: 'ab'.repeat(32),
      pendingChanges: 3,
      witnessedEpoch: 6,
      publisher: 'transparency-publisher-a',
      readyReaders: 2,
      lastPublished: '2026-11-23T11:59:00Z',
    });
    const cond = (type: string) => s?.conditions?.find((c) => c.type === type);
    expect(cond('Witnessed')).toMatchObject({ status: 'True', reason: 'UpToDate' });
    expect(cond('Publishing')).toMatchObject({ status: 'True', reason: 'Publishing' });
    // No new epoch for longer than 3 epoch intervals (and 30 s) with changes waiting: stalled.
    t.advance(31_000);
    await t.pass();
    s = t.kd().status;
    expect(s?.conditions?.find((c) => c.type === 'Publishing')).toMatchObject({
      status: 'False',
      reason: 'Stalled',
    });
    // The witness halts on a fork: Warning Event, Witnessed False, Degraded.
    t.answers.set('http://10.244.2.9:8080/namespaces', {
      namespaces: [
        { name: 'vaults/transparency', lastVerifiedEpoch: 6, refusal: { reason: 'epoch 7 forks' } },
      ],
    });
    await t.pass();
    s = t.kd().status;
    expect(s?.phase).toBe('Degraded');
    expect(s?.conditions?.find((c) => c.type === 'Witnessed')).toMatchObject({ reason: 'WitnessHalted' });
    expect(t.events.some((e) => e.startsWith('Warning WitnessHalted'))).toBe(true);
  });

  it('a new writer is an Event; a writer that does not answer is not Available', async () => {
    const t = setup();
    await t.pass();
    t.runPod('transparency-publisher-a', 'publisher', '10.244.1.5', true);
    t.answers.set('http://10.244.1.5:8080/v1/epochs/latest', { epoch: 1, rootHash: '00', timestamp: 1 });
    t.answers.set('http://10.244.1.5:8080/v1/changes/pending', { pending: 0 });
    await t.pass();
    t.api.remove(builtin.pod, NS, 'transparency-publisher-a');
    t.runPod('transparency-publisher-b', 'publisher', '10.244.1.6', true);
    await t.pass();
    expect(t.kd().status?.conditions?.find((c) => c.type === 'Available')).toMatchObject({
      status: 'False',
      reason: 'WriterUnreachable',
    });
    expect(t.events).toContain(
      'Normal WriterChanged: transparency-publisher-b took over as the writer from transparency-publisher-a',
    );
  });

  it('scaling witnesses down removes the StatefulSet but keeps the key', async () => {
    const t = setup({ witnesses: 2 });
    await t.pass();
    t.api.modify(keyDirectoryType, NS, 'transparency', { spec: { witnesses: 1 } });
    await t.pass();
    expect(t.names(directoryKinds.statefulSet)).toEqual(['transparency-witness-0']);
    expect(t.names(builtin.secret)).toContain('transparency-witness-1-key');
    expect(t.events.some((e) => e.includes('RemovedWitness'))).toBe(true);
  });

  it('paused: observes and reports, creates nothing', async () => {
    const t = setup({ paused: true });
    await t.pass();
    expect(t.names(builtin.secret)).toEqual([]);
    expect(t.names(directoryKinds.deployment)).toEqual([]);
    expect(t.kd().status?.phase).toBe('Paused');
  });
});
