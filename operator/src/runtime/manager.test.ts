import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../metrics.ts';
import { KubeClient } from './client.ts';
import { Controller, watchPrimary } from './controller.ts';
import type { Lease } from './leaderelection.ts';
import { type ControllerRegistration, Manager } from './manager.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import { testFleetType } from './testing/fixtures.ts';
import { waitFor } from './testing/wait.ts';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function counting(reconciled: string[], who: string): ControllerRegistration {
  return {
    name: 'vaultfleet',
    create: (ctx) =>
      new Controller({
        name: 'vaultfleet',
        watches: [watchPrimary(ctx.informers.get<Unstructured>(testFleetType))],
        reconcile: async (req) => {
          reconciled.push(`${who} ${req.key}`);
          const fleet = ctx.informers.get<Unstructured>(testFleetType).store.get(req.key);
          if (fleet) ctx.events.normal(fleet, 'Reconciled', `reconciled by ${who}`);
        },
        logger: ctx.logger,
        metrics: ctx.metrics,
      }),
  };
}

function start(api: FakeApiServer, identity: string, reconciled: string[], leaderElection = true) {
  const manager = new Manager({
    client: new KubeClient(api),
    identity,
    namespaces: ['vaults'],
    leaderElection: leaderElection
      ? {
          namespace: 'keyfleet-system',
          name: 'keyfleet',
          leaseDurationMs: 5000,
          renewDeadlineMs: 3000,
          retryPeriodMs: 100,
        }
      : false,
    controllers: [counting(reconciled, identity)],
    metrics: createOperatorMetrics(),
  });
  const stop = new AbortController();
  const done = manager.run(stop.signal);
  const halt = async () => {
    stop.abort();
    await done;
  };
  stops.push(halt);
  return { manager, halt };
}

describe('Manager', () => {
  it('without leader election: syncs informers, runs controllers, and reports ready', async () => {
    const api = new FakeApiServer([testFleetType, builtin.event]);
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'vaults' } });
    api.seed(testFleetType, { metadata: { name: 'not-watched', namespace: 'elsewhere' } });
    const reconciled: string[] = [];
    const { manager, halt } = start(api, 'solo', reconciled, false);
    await waitFor('reconcile', () => reconciled.length === 1);
    expect(reconciled).toEqual(['solo vaults/f']);
    expect(manager.readiness()).toEqual({
      ready: true,
      role: 'leader',
      informersSynced: true,
      leader: 'solo',
      controllers: { vaultfleet: true },
    });
    await halt();
    expect(manager.readiness()).toMatchObject({
      ready: false,
      role: 'stopping',
      controllers: { vaultfleet: false },
    });
    expect(api.objects(builtin.event)).toHaveLength(1); // events flushed before stopping
    expect(api.openWatches).toBe(0);
  });

  it('with two replicas: only the leader reconciles; the standby is ready and takes over on shutdown', async () => {
    const api = new FakeApiServer([testFleetType, builtin.lease, builtin.event]);
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'vaults' } });
    const reconciled: string[] = [];
    const a = start(api, 'a', reconciled);
    await waitFor('a leads', () => a.manager.readiness().role === 'leader' && a.manager.readiness().ready);
    const b = start(api, 'b', reconciled);
    await waitFor('b synced', () => b.manager.readiness().informersSynced);
    expect(b.manager.readiness()).toMatchObject({
      ready: true,
      role: 'standby',
      leader: 'a',
      controllers: { vaultfleet: false },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(reconciled).toEqual(['a vaults/f']);

    api.seed(testFleetType, { metadata: { name: 'g', namespace: 'vaults' } });
    await waitFor('a reconciles g', () => reconciled.includes('a vaults/g'));
    const handoverStarted = Date.now();
    await a.halt();
    expect(
      api.object<Lease>(builtin.lease, 'keyfleet-system', 'keyfleet')?.spec?.holderIdentity,
    ).toBeUndefined();
    await waitFor(
      'b leads and reconciles',
      () => reconciled.includes('b vaults/g') && reconciled.includes('b vaults/f'),
    );
    expect(Date.now() - handoverStarted).toBeLessThan(3000); // released, not waited out (5 s)
    expect(reconciled.filter((r) => r.startsWith('b'))).toHaveLength(2);
    expect(b.manager.readiness()).toMatchObject({ ready: true, role: 'leader', leader: 'b' });
  });

  for (const leaderElection of [false, true]) {
    it(`stops promptly while informers cannot sync (leader election ${leaderElection ? 'on' : 'off'})`, async () => {
      const api = new FakeApiServer([testFleetType, builtin.lease, builtin.event]);
      api.failNext({ path: /vaultfleets/ }, 503, { times: 1_000_000 });
      const reconciled: string[] = [];
      const { manager, halt } = start(api, 'x', reconciled, leaderElection);
      await waitFor('leading', () => manager.readiness().role === 'leader');
      expect(manager.readiness()).toMatchObject({ ready: false, informersSynced: false });
      const t0 = Date.now();
      await halt();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(manager.readiness().controllers).toEqual({ vaultfleet: false });
      expect(reconciled).toEqual([]);
    });
  }

  it('refuses two controllers with the same name', () => {
    const api = new FakeApiServer([testFleetType]);
    const reg = counting([], 'x');
    expect(
      () =>
        new Manager({
          client: new KubeClient(api),
          identity: 'x',
          leaderElection: false,
          controllers: [reg, reg],
        }),
    ).toThrow(/two controllers are registered as "vaultfleet"/);
  });
});
