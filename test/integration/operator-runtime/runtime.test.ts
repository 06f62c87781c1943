// The operator runtime against a real kube-apiserver (see apiserver.ts): the typed client and
// server-side apply (with real field ownership and the status subresource), informers (real
// pagination, watch, the shape of 410 Gone), leader election on a real Lease, and Events.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../operator/src/log.ts';
import { type OperatorConfig, parseConfig, startOperator } from '../../../operator/src/main.ts';
import { KubeClient } from '../../../operator/src/runtime/client.ts';
import { isAlreadyExists, isConflict } from '../../../operator/src/runtime/errors.ts';
import { EventRecorder } from '../../../operator/src/runtime/events.ts';
import { Informer } from '../../../operator/src/runtime/informer.ts';
import { LeaderElector, type Lease } from '../../../operator/src/runtime/leaderelection.ts';
import { builtin, type ResourceType, type Unstructured } from '../../../operator/src/runtime/resource.ts';
import { waitFor } from '../../../operator/src/runtime/testing/wait.ts';
import { KubeConfigTransport } from '../../../operator/src/runtime/transport.ts';
import { loadCrd } from '../../../sdk/src/api/crds.ts';
import { missingBinaries, startTestApiServer, type TestApiServer } from './apiserver.ts';

// Needs the real etcd and kube-apiserver; `npm test` builds them first (npm run setup:test).
// A missing binary fails this file with what to run, never a silent skip.
const missing = missingBinaries();
if (missing.length > 0) {
  throw new Error(`${missing.join(', ')} not built: run test/cluster/build.sh (or npm run setup:test)`);
}

const ns = 'kf-it';
const crd: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};
const widget: ResourceType = {
  group: 'it.keyfleet.dev',
  version: 'v1',
  plural: 'widgets',
  kind: 'Widget',
  namespaced: true,
};

let server: TestApiServer;
let client: KubeClient;

describe('operator runtime against a real API server', () => {
  beforeAll(async () => {
    server = await startTestApiServer();
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig);
    client = new KubeClient(new KubeConfigTransport(kc));
    await client.apply(builtin.namespace, { metadata: { name: ns } });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('server-side apply owns fields as keyfleet-operator and gives up the ones it stops sending', async () => {
    const cms = client.resource<Unstructured>(builtin.configMap);
    const first = await cms.apply({ metadata: { name: 'owned', namespace: ns }, data: { a: '1', b: '2' } });
    const managers = (first.metadata?.managedFields ?? []) as { manager: string; operation: string }[];
    expect(managers).toContainEqual(
      expect.objectContaining({ manager: 'keyfleet-operator', operation: 'Apply' }),
    );
    const second = await cms.apply({ metadata: { name: 'owned', namespace: ns }, data: { a: '1' } });
    expect(second['data']).toEqual({ a: '1' });
    await expect(cms.create({ metadata: { name: 'owned', namespace: ns } })).rejects.toSatisfy(
      isAlreadyExists,
    );
    await expect(cms.update({ ...first, data: { c: '3' } })).rejects.toSatisfy(isConflict);
  });

  it('applies status through the status subresource of a custom resource', async () => {
    await client.apply(crd, {
      metadata: { name: 'widgets.it.keyfleet.dev' },
      spec: {
        group: 'it.keyfleet.dev',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  status: { type: 'object', properties: { ready: { type: 'integer' } } },
                },
              },
            },
          },
        ],
      },
    });
    const established = async () => {
      const got = await client.get<Unstructured>(crd, undefined, 'widgets.it.keyfleet.dev');
      const conds = (got['status'] as { conditions?: { type: string; status: string }[] })?.conditions ?? [];
      return conds.some((c) => c.type === 'Established' && c.status === 'True');
    };
    const deadline = Date.now() + 30_000;
    while (!(await established())) {
      if (Date.now() > deadline) throw new Error('CRD not established');
      await new Promise((r) => setTimeout(r, 200));
    }
    // A new CRD's endpoint can lag its Established condition by a moment.
    let w: Unstructured | undefined;
    for (let i = 0; i < 50 && !w; i++) {
      w = await client
        .apply(widget, { metadata: { name: 'w', namespace: ns }, spec: { size: 3 } })
        .catch(async () => {
          await new Promise((r) => setTimeout(r, 200));
          return undefined;
        });
    }
    expect(w?.metadata?.generation).toBe(1);
    const withStatus = await client.applyStatus(widget, { ...(w as Unstructured), status: { ready: 2 } });
    expect(withStatus['status']).toEqual({ ready: 2 });
    expect(withStatus.metadata?.generation).toBe(1);
    const respec = await client.apply<Unstructured>(widget, {
      metadata: { name: 'w', namespace: ns },
      spec: { size: 5 },
      status: { ready: 99 },
    });
    expect(respec['status']).toEqual({ ready: 2 });
    expect(respec.metadata?.generation).toBe(2);
  });

  it('an informer lists in real pages, follows the watch, and a stale resourceVersion gets 410 Gone', async () => {
    for (let i = 0; i < 5; i++) {
      await client.apply(builtin.configMap, {
        metadata: { name: `inf-${i}`, namespace: ns, labels: { app: 'inf' } },
      });
    }
    const informer = new Informer<Unstructured>(client, {
      resource: builtin.configMap,
      namespace: ns,
      labelSelector: 'app=inf',
      pageSize: 2,
    });
    const events: string[] = [];
    informer.addEventHandler({
      onAdd: (o) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (o, n) => {
        if (o !== n) events.push(`update ${n.metadata?.name}`);
      },
      onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
    });
    informer.start();
    try {
      expect(await informer.waitForSync()).toBe(true);
      expect(informer.store.keys().sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${ns}/inf-${i}`));
      await client.apply(builtin.configMap, {
        metadata: { name: 'inf-0', namespace: ns, labels: { app: 'inf' } },
        data: { k: 'v' },
      });
      await client.apply(builtin.configMap, {
        metadata: { name: 'inf-new', namespace: ns, labels: { app: 'inf' } },
      });
      await client.delete(builtin.configMap, ns, 'inf-1');
      await waitFor('watch events', () => events.includes('delete inf-1'), 10_000);
      expect(events.slice(5)).toEqual(['update inf-0', 'add inf-new', 'delete inf-1']);
      expect(informer.store.get(`${ns}/inf-0`)?.['data']).toEqual({ k: 'v' });
    } finally {
      await informer.stop();
    }
    // What the informer relists on: a watch from a resourceVersion the server no longer keeps.
    const stale = client.watch<Unstructured>(builtin.configMap, { namespace: ns, resourceVersion: '1' });
    let first: { type: string; object: Unstructured } | undefined;
    for await (const ev of stale) {
      first = ev;
      break;
    }
    expect(first?.type).toBe('ERROR');
    expect(first?.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
  });

  it('leader election: one of two candidates leads; on release the other takes over at once', async () => {
    const log: string[] = [];
    const candidate = (identity: string) => {
      const stop = new AbortController();
      const elector = new LeaderElector({
        client,
        namespace: ns,
        name: 'it-lease',
        identity,
        leaseDurationMs: 6_000,
        renewDeadlineMs: 4_000,
        retryPeriodMs: 500,
        onStartedLeading: () => {
          log.push(`${identity} started`);
        },
        onStoppedLeading: () => {
          log.push(`${identity} stopped`);
        },
      });
      return { elector, stop, done: elector.run(stop.signal), identity };
    };
    const a = candidate('a');
    const b = candidate('b');
    await waitFor('a leader', () => a.elector.isLeader() || b.elector.isLeader(), 10_000);
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    await new Promise((r) => setTimeout(r, 2_000));
    expect(standby.elector.isLeader()).toBe(false);
    expect(standby.elector.getLeader()).toBe(leader.identity);
    const lease = await client.get<Lease>(builtin.lease, ns, 'it-lease');
    expect(lease.spec).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 6 });
    expect(lease.spec?.renewTime).toMatch(/\.\d{6}Z$/);

    const t0 = Date.now();
    leader.stop.abort();
    await leader.done;
    expect((await client.get<Lease>(builtin.lease, ns, 'it-lease')).spec?.holderIdentity).toBeUndefined();
    await waitFor('standby leads', () => standby.elector.isLeader(), 10_000);
    expect(Date.now() - t0).toBeLessThan(6_000); // released: not waited out
    expect((await client.get<Lease>(builtin.lease, ns, 'it-lease')).spec?.leaseTransitions).toBe(1);
    expect(log.indexOf(`${leader.identity} stopped`)).toBeLessThan(
      log.indexOf(`${standby.identity} started`),
    );
    standby.stop.abort();
    await standby.done;
  }, 60_000);

  it('records an Event and updates its series through apply', async () => {
    const regarding = await client.get<Unstructured>(builtin.configMap, ns, 'owned');
    const recorder = new EventRecorder({
      client,
      controller: 'keyfleet.dev/operator',
      instance: 'it',
      seriesUpdateMs: 0,
    });
    recorder.warning(regarding, 'WaitingForQuorum', '3 of 7 members ready');
    await recorder.flush();
    recorder.warning(regarding, 'WaitingForQuorum', '3 of 7 members ready');
    recorder.warning(regarding, 'WaitingForQuorum', '3 of 7 members ready');
    await recorder.close();
    const list = await client.list<Unstructured>(builtin.event, { namespace: ns });
    const ours = list.items.filter((e) => e['reason'] === 'WaitingForQuorum');
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatchObject({
      type: 'Warning',
      note: '3 of 7 members ready',
      reportingController: 'keyfleet.dev/operator',
      regarding: { kind: 'ConfigMap', name: 'owned', namespace: ns },
      series: { count: 3 },
    });
    expect(recorder.dropped).toBe(0);
  });

  it('the operator entry point leads, reports ready as leader, and releases its Lease on stop', async () => {
    const cfg = parseConfig(
      ['--metrics-address', '127.0.0.1:0', '--leader-election-namespace', ns],
      {},
    ) as OperatorConfig;
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig);
    // The operator's controllers watch keyfleet.dev resources: install the project's CRDs first.
    for (const kind of ['VaultFleet', 'KeyDirectory'] as const) {
      const definition = loadCrd(kind);
      await client.apply(crd, definition as unknown as Unstructured);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const got = await client.get<Unstructured>(crd, undefined, definition.metadata.name);
        const conds =
          (got['status'] as { conditions?: { type: string; status: string }[] })?.conditions ?? [];
        if (conds.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) throw new Error(`${definition.metadata.name} not established`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const op = await startOperator(cfg, { kubeConfig: kc, logger: createLogger({ write: () => {} }) });
    try {
      // Ready as leader: elected, informers synced, controllers running (the role alone comes
      // first, and /readyz answered 503 in that moment in a CI run).
      await waitFor(
        'leading and ready',
        () => {
          const r = op.manager.readiness();
          return r.role === 'leader' && r.ready;
        },
        30_000,
      );
      const res = await fetch(`http://127.0.0.1:${op.address.port}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ role: 'leader', leader: cfg.identity });
    } finally {
      await op.stop();
    }
    expect(
      (await client.get<Lease>(builtin.lease, ns, 'keyfleet-operator')).spec?.holderIdentity,
    ).toBeUndefined();
  });
});
