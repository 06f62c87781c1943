import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOperatorMetrics } from '../metrics.ts';
import { indexByOwnerUid } from './cache.ts';
import { KubeClient } from './client.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import { waitFor } from './testing/wait.ts';

const cm = builtin.configMap;
const obj = (name: string, extra: Partial<Unstructured> = {}, ns = 'n'): Unstructured => ({
  metadata: { name, namespace: ns },
  ...extra,
});

let running: Informer<Unstructured>[] = [];
afterEach(async () => {
  await Promise.all(running.map((i) => i.stop()));
  running = [];
});

function setup(opts: Partial<InformerOptions<Unstructured>> = {}) {
  const api = new FakeApiServer([cm]);
  const metrics = createOperatorMetrics();
  const informer = new Informer<Unstructured>(new KubeClient(api), {
    resource: cm,
    backoff: { initialMs: 5, maxMs: 20 },
    metrics,
    ...opts,
  });
  const events: string[] = [];
  informer.addEventHandler({
    onAdd: (o) => events.push(`add ${o.metadata?.name}`),
    onUpdate: (o, n) =>
      events.push(
        `update ${n.metadata?.name} ${o.metadata?.resourceVersion}->${n.metadata?.resourceVersion}`,
      ),
    onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
  });
  running.push(informer);
  return { api, informer, events, metrics };
}

const counter = async (metrics: ReturnType<typeof createOperatorMetrics>, name: string, labels: string) => {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('Informer', () => {
  it('lists in pages, syncs, then follows the watch with old and new objects', async () => {
    const { api, informer, events } = setup({ pageSize: 2, namespace: 'n' });
    for (const n of ['a', 'b', 'c', 'd', 'e']) api.seed(cm, obj(n));
    api.seed(cm, obj('elsewhere', {}, 'm'));
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(informer.store.keys().sort()).toEqual(['n/a', 'n/b', 'n/c', 'n/d', 'n/e']);
    expect(informer.store.get('n/a')?.kind).toBe('ConfigMap'); // identity filled on list items
    const lists = api.requests.filter((r) => r.method === 'GET' && r.query['watch'] !== 'true');
    expect(lists.map((r) => r.query['limit'])).toEqual(['2', '2', '2']);
    await waitFor('watch', () => api.openWatches === 1);
    const watchReq = api.requests.find((r) => r.query['watch'] === 'true');
    expect(watchReq?.query).toMatchObject({
      allowWatchBookmarks: 'true',
      resourceVersion: informer.lastSyncResourceVersion,
    });

    events.length = 0;
    const before = api.object<Unstructured>(cm, 'n', 'a')?.metadata?.resourceVersion;
    api.modify(cm, 'n', 'a', { data: { k: 'v' } });
    api.seed(cm, obj('f'));
    api.remove(cm, 'n', 'b');
    api.seed(cm, obj('ignored', {}, 'm'));
    await waitFor('three events', () => events.length === 3);
    const after = api.object<Unstructured>(cm, 'n', 'a')?.metadata?.resourceVersion;
    expect(events).toEqual([`update a ${before}->${after}`, 'add f', 'delete b']);
    expect(informer.store.get('n/a')?.['data']).toEqual({ k: 'v' });
    expect(informer.store.get('n/b')).toBeUndefined();
  });

  it('reopens a watch the server closed from the last resourceVersion, without listing', async () => {
    const { api, informer, events, metrics } = setup();
    informer.start();
    await waitFor('watch', () => api.openWatches === 1);
    api.seed(cm, obj('a'));
    await waitFor('add', () => events.length === 1);
    const rv = informer.lastSyncResourceVersion;
    api.closeWatches();
    await waitFor('second watch', () => api.requests.filter((r) => r.query['watch'] === 'true').length === 2);
    expect(api.requests.at(-1)?.query['resourceVersion']).toBe(rv);
    expect(await counter(metrics, 'keyfleet_informer_relists_total', 'resource="configmaps"')).toBe(1);
    api.seed(cm, obj('b'));
    await waitFor('add b', () => events.includes('add b'));
  });

  for (const mode of ['event', 'http'] as const) {
    it(`relists on 410 Gone (${mode}) and reports what it missed, including deletions`, async () => {
      const { api, informer, events, metrics } = setup();
      api.expiredWatch = mode;
      api.seed(cm, obj('stays'));
      api.seed(cm, obj('deleted-while-away'));
      informer.start();
      await waitFor('watch', () => api.openWatches === 1);
      // The watch drops; while the informer is away objects change and history is compacted.
      api.failNext({ watch: true }, 500, { times: 1_000_000 });
      api.closeWatches();
      await waitFor(
        'failed rewatch',
        () => api.requests.filter((r) => r.query['watch'] === 'true').length >= 2,
      );
      api.remove(cm, 'n', 'deleted-while-away');
      api.seed(cm, obj('created-while-away'));
      api.compact();
      api.clearFaults();
      await waitFor('relist', () => informer.store.get('n/created-while-away') !== undefined);
      expect(informer.store.keys().sort()).toEqual(['n/created-while-away', 'n/stays']);
      expect(events).toContain('delete deleted-while-away');
      expect(events).toContain('add created-while-away');
      expect(await counter(metrics, 'keyfleet_informer_relists_total', 'resource="configmaps"')).toBe(2);
      expect(
        await counter(
          metrics,
          'keyfleet_informer_watch_restarts_total',
          'resource="configmaps",reason="expired"',
        ),
      ).toBe(1);
      await waitFor('watch again', () => api.openWatches === 1);
      api.seed(cm, obj('later'));
      await waitFor('add later', () => events.includes('add later'));
    });
  }

  it('relists at once on a 410, but backs off when 410s follow each other', async () => {
    vi.useFakeTimers();
    try {
      const { api, informer } = setup({ backoff: { initialMs: 1000, maxMs: 1000, jitter: 0 } });
      api.failNext({ watch: true }, 410, { reason: 'Expired', times: 3 });
      const lists = () => api.requests.filter((r) => r.query['watch'] !== 'true').length;
      informer.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(lists()).toBe(2); // list, 410, relist at once, 410 again: now waiting
      await vi.advanceTimersByTimeAsync(999);
      expect(lists()).toBe(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(lists()).toBe(3);
      await vi.advanceTimersByTimeAsync(1000);
      expect(lists()).toBe(4);
      expect(api.openWatches).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('backs off and retries after list and watch errors, then recovers', async () => {
    const { api, informer, events, metrics } = setup();
    api.failNext({ watch: false, method: 'GET' }, 500, { times: 2 });
    api.failNext({ watch: true }, 503, { times: 3 });
    informer.start();
    await waitFor('sync', () => informer.hasSynced());
    await waitFor('watch', () => api.openWatches === 1, 10_000);
    expect(
      await counter(
        metrics,
        'keyfleet_informer_watch_restarts_total',
        'resource="configmaps",reason="error"',
      ),
    ).toBe(5);
    api.seed(cm, obj('a'));
    await waitFor('add', () => events.includes('add a'));
  });

  it('resyncs cached objects to onUpdate, replays to late handlers, and stops cleanly', async () => {
    const { api, informer, events } = setup({ resyncPeriodMs: 20 });
    api.seed(cm, obj('a'));
    informer.start();
    await informer.waitForSync();
    const rv = api.object<Unstructured>(cm, 'n', 'a')?.metadata?.resourceVersion;
    await waitFor('resync', () => events.includes(`update a ${rv}->${rv}`));
    const late: string[] = [];
    const remove = informer.addEventHandler({ onAdd: (o) => late.push(o.metadata?.name ?? '') });
    expect(late).toEqual(['a']);
    remove();
    api.seed(cm, obj('b'));
    await waitFor('add b', () => events.includes('add b'));
    expect(late).toEqual(['a']);
    await informer.stop();
    expect(api.openWatches).toBe(0);
    expect(informer.running).toBe(false);
  });

  it('watches several namespaces into one cache; a relist of one leaves the others alone', async () => {
    const { api, informer, events } = setup({ namespaces: ['a', 'b'] });
    api.seed(cm, obj('x', {}, 'a'));
    api.seed(cm, obj('y', {}, 'b'));
    api.seed(cm, obj('z', {}, 'c'));
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(informer.store.keys().sort()).toEqual(['a/x', 'b/y']);
    const lists = api.requests.filter((r) => r.query['watch'] !== 'true').map((r) => r.path);
    expect(lists.sort()).toEqual(['/api/v1/namespaces/a/configmaps', '/api/v1/namespaces/b/configmaps']);
    await waitFor('two watches', () => api.openWatches === 2);
    // Namespace a's watch expires; its relist must not drop b's objects.
    api.failNext({ watch: true, path: /namespaces\/a\// }, 410, { reason: 'Expired' });
    api.closeWatches();
    await waitFor(
      'relist of a',
      () =>
        api.requests.filter(
          (r) => r.path === '/api/v1/namespaces/a/configmaps' && r.query['watch'] !== 'true',
        ).length === 2,
    );
    await waitFor('watches back', () => api.openWatches === 2);
    expect(informer.store.keys().sort()).toEqual(['a/x', 'b/y']);
    expect(events.filter((e) => e.startsWith('delete'))).toEqual([]);
    api.seed(cm, obj('w', {}, 'b'));
    api.seed(cm, obj('v', {}, 'c'));
    await waitFor('add w', () => events.includes('add w'));
    expect(informer.store.get('c/v')).toBeUndefined();
  });

  it('keeps an owner-UID index for finding dependents', async () => {
    const { api, informer } = setup({ indexers: { owner: indexByOwnerUid } });
    const ref = {
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      name: 'f',
      uid: 'fleet-uid',
      controller: true,
    };
    api.seed(cm, obj('m1', { metadata: { name: 'm1', namespace: 'n', ownerReferences: [ref] } }));
    api.seed(cm, obj('m2', { metadata: { name: 'm2', namespace: 'n', ownerReferences: [ref] } }));
    api.seed(cm, obj('other'));
    informer.start();
    await informer.waitForSync();
    expect(
      informer.store
        .byIndex('owner', 'fleet-uid')
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['m1', 'm2']);
  });

  it('a throwing handler does not stop other handlers or the informer', async () => {
    const { api, informer, events } = setup();
    informer.addEventHandler({
      onAdd: () => {
        throw new Error('boom');
      },
    });
    informer.start();
    await informer.waitForSync();
    api.seed(cm, obj('a'));
    api.seed(cm, obj('b'));
    await waitFor('both adds', () => events.includes('add b'));
    expect(events).toEqual(['add a', 'add b']);
  });
});
