import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorMetrics, type OperatorMetrics } from '../metrics.ts';
import { KubeClient } from './client.ts';
import { Controller, type Reconciler, watchOwned, watchPrimary } from './controller.ts';
import { ApiError } from './errors.ts';
import { Informer } from './informer.ts';
import { ItemExponentialRateLimiter } from './ratelimiter.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import { testFleetType } from './testing/fixtures.ts';
import { waitFor } from './testing/wait.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(reconcile: Reconciler, workers = 2) {
  const api = new FakeApiServer([testFleetType, builtin.pod]);
  const client = new KubeClient(api);
  const metrics = createOperatorMetrics();
  const fleets = new Informer<Unstructured>(client, { resource: testFleetType });
  const pods = new Informer<Unstructured>(client, { resource: builtin.pod });
  fleets.start();
  pods.start();
  const controller = new Controller({
    name: 'vaultfleet',
    reconcile,
    watches: [watchPrimary(fleets), watchOwned(pods, 'VaultFleet')],
    workers,
    rateLimiter: () => new ItemExponentialRateLimiter(1, 20),
    metrics,
  });
  cleanups.push(async () => {
    await controller.stop();
    await fleets.stop();
    await pods.stop();
  });
  return { api, controller, metrics };
}

async function metricValue(m: OperatorMetrics, prefix: string): Promise<number> {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('Controller', () => {
  it('reconciles existing and new objects, and maps owned objects to their owner', async () => {
    const seen: string[] = [];
    const { api, controller, metrics } = setup(async (req) => {
      seen.push(req.key);
      return undefined;
    });
    api.seed(testFleetType, { metadata: { name: 'f1', namespace: 'n' } });
    await controller.start();
    await waitFor('f1', () => seen.includes('n/f1'));
    expect(controller.running).toBe(true);
    const f2 = api.seed<Unstructured>(testFleetType, { metadata: { name: 'f2', namespace: 'n' } });
    await waitFor('f2', () => seen.includes('n/f2'));
    seen.length = 0;
    api.seed(builtin.pod, {
      metadata: {
        name: 'f2-dc1',
        namespace: 'n',
        ownerReferences: [
          {
            apiVersion: 'keyfleet.dev/v1alpha1',
            kind: 'VaultFleet',
            name: 'f2',
            uid: f2.metadata?.uid ?? '',
            controller: true,
          },
        ],
      },
    });
    api.seed(builtin.pod, { metadata: { name: 'unowned', namespace: 'n' } });
    await waitFor('owner enqueued', () => seen.includes('n/f2'));
    expect(seen).toEqual(['n/f2']);
    expect(
      await metricValue(metrics, 'keyfleet_reconcile_total{controller="vaultfleet",result="success"}'),
    ).toBe(3);
    expect(
      await metricValue(metrics, 'keyfleet_reconcile_duration_seconds_count{controller="vaultfleet"}'),
    ).toBe(3);
  });

  it('retries a failing reconcile with backoff and counts errors and retries', async () => {
    let calls = 0;
    const { api, controller, metrics } = setup(async () => {
      calls++;
      if (calls <= 3)
        throw calls === 2 ? new ApiError(409, 'conflict', 'Conflict') : new Error('member unreachable');
      return undefined;
    });
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'n' } });
    await controller.start();
    await waitFor('success after retries', () => calls === 4);
    await waitFor('metrics', () => controller.queue?.processing() === 0);
    expect(
      await metricValue(metrics, 'keyfleet_reconcile_total{controller="vaultfleet",result="error"}'),
    ).toBe(3);
    expect(
      await metricValue(metrics, 'keyfleet_reconcile_total{controller="vaultfleet",result="success"}'),
    ).toBe(1);
    expect(await metricValue(metrics, 'keyfleet_workqueue_retries_total{controller="vaultfleet"}')).toBe(3);
    expect(controller.queue?.numRequeues('n/f')).toBe(0); // forgotten after success
  });

  it('requeues after the time asked for', async () => {
    const times: number[] = [];
    const { api, controller, metrics } = setup(async () => {
      times.push(Date.now());
      return times.length < 3 ? { requeueAfter: 30 } : undefined;
    });
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'n' } });
    await controller.start();
    await waitFor('three reconciles', () => times.length === 3);
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(29);
    expect(
      await metricValue(metrics, 'keyfleet_reconcile_total{controller="vaultfleet",result="requeue"}'),
    ).toBe(2);
  });

  it('never reconciles one key on two workers at once, even when events pour in', async () => {
    let active = 0;
    let overlap = 0;
    let calls = 0;
    const { api, controller } = setup(async () => {
      calls++;
      active++;
      if (active > 1) overlap++;
      await new Promise((r) => setTimeout(r, 3));
      active--;
      return undefined;
    }, 4);
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'n' } });
    await controller.start();
    for (let i = 0; i < 30; i++) {
      api.modify(testFleetType, 'n', 'f', { spec: { i } });
      await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor('quiet', () => controller.queue?.len() === 0 && controller.queue?.processing() === 0);
    expect(overlap).toBe(0);
    expect(calls).toBeGreaterThan(1);
  });

  it('stop drains the reconcile in flight, aborts its signal, and a restart reconciles everything again', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let sawAbort = false;
    let finished = 0;
    let calls = 0;
    const { api, controller } = setup(async (req) => {
      calls++;
      if (calls === 1) {
        await gate;
        sawAbort = req.signal.aborted;
      }
      finished++;
      return undefined;
    });
    api.seed(testFleetType, { metadata: { name: 'f', namespace: 'n' } });
    await controller.start();
    await waitFor('first reconcile started', () => calls === 1);
    let stopped = false;
    const stopping = controller.stop().then(() => {
      stopped = true;
    });
    expect(controller.running).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(sawAbort).toBe(true);
    expect(finished).toBe(1);
    await controller.start();
    await waitFor('reconciled after restart', () => finished === 2);
  });
});
