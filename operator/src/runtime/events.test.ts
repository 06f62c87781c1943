import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createOperatorMetrics } from '../metrics.ts';
import { KubeClient } from './client.ts';
import { DEFAULT_EVENT_BURST, DEFAULT_EVENT_REFILL_MS, EventRecorder } from './events.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';

const fleet: Unstructured = {
  apiVersion: 'keyfleet.dev/v1alpha1',
  kind: 'VaultFleet',
  metadata: { name: 'backups', namespace: 'vaults', uid: 'fleet-uid', resourceVersion: '7' },
};

function setup() {
  const api = new FakeApiServer([builtin.event]);
  const metrics = createOperatorMetrics();
  const recorder = new EventRecorder({
    client: new KubeClient(api),
    controller: 'keyfleet.dev/operator',
    instance: 'keyfleet-operator-abc',
    metrics,
  });
  const events = () => api.objects<Unstructured>(builtin.event);
  const applies = () => api.requests.filter((r) => r.method === 'PATCH');
  return { api, recorder, events, applies, metrics };
}

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('EventRecorder', () => {
  it('applies an events.k8s.io/v1 Event about the object', async () => {
    const { recorder, events, applies, metrics } = setup();
    recorder.normal(fleet, 'CreatedMember', 'created member backups-dc1 in zone dc1', 'Create');
    await recorder.flush();
    const [ev] = events();
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'vaults' },
      eventTime: '2026-01-01T00:00:00.000000Z',
      reportingController: 'keyfleet.dev/operator',
      reportingInstance: 'keyfleet-operator-abc',
      action: 'Create',
      reason: 'CreatedMember',
      note: 'created member backups-dc1 in zone dc1',
      type: 'Normal',
      regarding: { kind: 'VaultFleet', name: 'backups', namespace: 'vaults', uid: 'fleet-uid' },
    });
    expect(ev?.metadata?.name).toMatch(/^backups\.[0-9a-f]+$/);
    expect(ev?.['series']).toBeUndefined();
    expect(applies()[0]).toMatchObject({
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'keyfleet-operator', force: 'true' },
    });
    expect(await metrics.registry.metrics()).toContain('keyfleet_events_emitted_total{type="Normal"} 1');
  });

  it('folds repeats into one Event with a series, written at most every 30 s', async () => {
    const { recorder, events, applies } = setup();
    for (let i = 0; i < 10; i++) {
      recorder.warning(fleet, 'WaitingForQuorum', '4 of 7 members ready; need 4 caught up');
      await vi.advanceTimersByTimeAsync(1000);
    }
    await recorder.flush();
    expect(applies()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(30_000);
    await recorder.flush();
    expect(applies()).toHaveLength(2);
    expect(events()).toHaveLength(1);
    expect(events()[0]?.['series']).toEqual({ count: 10, lastObservedTime: '2026-01-01T00:00:09.000000Z' });
    // Nothing new: no more writes.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(applies()).toHaveLength(2);
  });

  it('starts a new Event when the note differs or the series window has passed', async () => {
    const { recorder, events } = setup();
    recorder.normal(fleet, 'RollingMember', 'rolling member dc1');
    recorder.normal(fleet, 'RollingMember', 'rolling member dc2');
    await vi.advanceTimersByTimeAsync(7 * 60_000);
    recorder.normal(fleet, 'RollingMember', 'rolling member dc1');
    await recorder.flush();
    expect(events()).toHaveLength(3);
  });

  it('limits new Events per object to a burst, refilled slowly', async () => {
    const { recorder, events } = setup();
    for (let i = 0; i < DEFAULT_EVENT_BURST + 5; i++) recorder.normal(fleet, 'Step', `step ${i}`);
    await recorder.flush();
    expect(events()).toHaveLength(DEFAULT_EVENT_BURST);
    expect(recorder.dropped).toBe(5);
    recorder.normal({ ...fleet, metadata: { ...fleet.metadata, uid: 'other' } }, 'Step', 'another object');
    await vi.advanceTimersByTimeAsync(DEFAULT_EVENT_REFILL_MS);
    recorder.normal(fleet, 'Step', 'after refill');
    recorder.normal(fleet, 'Step', 'too soon');
    await recorder.flush();
    expect(events()).toHaveLength(DEFAULT_EVENT_BURST + 2);
  });

  it('never lets an older count overwrite a newer one while a write is under way', async () => {
    const api = new FakeApiServer([builtin.event]);
    api.latencyMs = 50;
    const recorder = new EventRecorder({
      client: new KubeClient(api),
      controller: 'c',
      instance: 'i',
      seriesUpdateMs: 0,
    });
    recorder.normal(fleet, 'Tick', 'same');
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(10);
      recorder.normal(fleet, 'Tick', 'same');
    }
    await vi.advanceTimersByTimeAsync(1000);
    await recorder.flush();
    expect(api.objects<Unstructured>(builtin.event)[0]?.['series']).toMatchObject({ count: 5 });
    // Writes were serialized: the first, then one carrying everything that arrived meanwhile.
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
  });

  it('puts events about cluster-scoped objects in default, and close() writes pending series', async () => {
    const { recorder, events } = setup();
    const ns: Unstructured = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'vaults', uid: 'ns-uid' },
    };
    recorder.normal(ns, 'Seen', 'x'.repeat(2000));
    recorder.normal(ns, 'Seen', 'x'.repeat(2000));
    await recorder.close();
    const [ev] = events();
    expect(ev?.metadata?.namespace).toBe('default');
    expect(String(ev?.['note']).length).toBe(1024);
    expect(ev?.['series']).toMatchObject({ count: 2 });
  });
});
