import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeClient } from './client.ts';
import { LeaderElector, type Lease, microTime } from './leaderelection.ts';
import { builtin } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import type { ApiRequest, ApiResponse, ApiTransport, WatchEvent } from './transport.ts';

/** One candidate's connection to the shared fake API server: can be cut, and records statuses. */
class Link implements ApiTransport {
  down = false;
  readonly statuses: number[] = [];
  readonly #inner: ApiTransport;
  constructor(inner: ApiTransport) {
    this.#inner = inner;
  }
  async request(req: ApiRequest): Promise<ApiResponse> {
    if (this.down) {
      await null;
      throw new Error('connect ECONNREFUSED');
    }
    const res = await this.#inner.request(req);
    this.statuses.push(res.status);
    return res;
  }
  watch(req: ApiRequest): AsyncIterable<WatchEvent> {
    return this.#inner.watch(req);
  }
}

const log: string[] = [];

function candidate(api: FakeApiServer, identity: string, opts: { stopDelayMs?: number } = {}) {
  const link = new Link(api);
  const stop = new AbortController();
  const elector = new LeaderElector({
    client: new KubeClient(link),
    namespace: 'keyfleet-system',
    name: 'keyfleet-operator',
    identity,
    onStartedLeading: () => {
      log.push(`${identity} started @${Date.now()}`);
    },
    onStoppedLeading: async () => {
      if (opts.stopDelayMs) await new Promise((r) => setTimeout(r, opts.stopDelayMs));
      log.push(`${identity} stopped @${Date.now()}`);
    },
  });
  const done = elector.run(stop.signal);
  return { elector, link, stop, done, identity };
}

const lease = (api: FakeApiServer) =>
  api.object<Lease>(builtin.lease, 'keyfleet-system', 'keyfleet-operator');

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  log.length = 0;
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('LeaderElector', () => {
  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe('2026-01-02T03:04:05.678000Z');
  });

  it('checks that the timings leave room to renew', () => {
    const client = new KubeClient(new FakeApiServer([builtin.lease]));
    const base = {
      client,
      namespace: 'n',
      name: 'l',
      identity: 'a',
      onStartedLeading() {},
      onStoppedLeading() {},
    };
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 15_000 })).toThrow(/renewDeadline/);
    expect(() => new LeaderElector({ ...base, retryPeriodMs: 9_000 })).toThrow(/retryPeriod/);
  });

  it('elects exactly one of two candidates, and hands over at once on a clean stop', async () => {
    const api = new FakeApiServer([builtin.lease]);
    const a = candidate(api, 'a', { stopDelayMs: 500 });
    const b = candidate(api, 'b');
    await vi.advanceTimersByTimeAsync(10);
    const leaders = [a, b].filter((c) => c.elector.isLeader());
    expect(leaders).toHaveLength(1);
    const [leader, standby] = leaders[0] === a ? [a, b] : [b, a];
    // Both tried to create the Lease; the loser got AlreadyExists.
    expect([...a.link.statuses, ...b.link.statuses].filter((s) => s === 409)).toHaveLength(1);
    expect(lease(api)?.spec).toMatchObject({
      holderIdentity: leader.identity,
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });

    await vi.advanceTimersByTimeAsync(30_000);
    expect(leader.elector.isLeader()).toBe(true);
    expect(standby.elector.isLeader()).toBe(false);
    expect(standby.elector.getLeader()).toBe(leader.identity);
    expect(Date.parse(lease(api)?.spec?.renewTime ?? '')).toBeGreaterThan(Date.now() - 2_500);

    const stoppedAt = Date.now();
    leader.stop.abort();
    await vi.advanceTimersByTimeAsync(100);
    if (leader === a) {
      // Controllers stop first: the Lease stays held while onStoppedLeading runs.
      expect(lease(api)?.spec?.holderIdentity).toBe('a');
      await vi.advanceTimersByTimeAsync(500);
    }
    await leader.done;
    // Released (no holder, 1 s duration) — unless the standby's retry fell in the same timer window
    // after the release and it has already taken the Lease, which is the hand-over itself.
    const holder = lease(api)?.spec?.holderIdentity;
    expect([undefined, standby.identity]).toContain(holder);
    if (holder === undefined) expect(lease(api)?.spec?.leaseDurationSeconds).toBe(1);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(standby.elector.isLeader()).toBe(true);
    expect(lease(api)?.spec).toMatchObject({ holderIdentity: standby.identity, leaseTransitions: 1 });
    const started = log.find((l) => l.startsWith(`${standby.identity} started`)) ?? '';
    expect(Number(started.split('@')[1]) - stoppedAt).toBeLessThan(3_200);
    expect(log.indexOf(`${leader.identity} stopped @${stoppedAt + (leader === a ? 500 : 0)}`)).toBeLessThan(
      log.indexOf(started),
    );
    standby.stop.abort();
    await standby.done;
  });

  it('a partitioned leader stops before the standby starts, and the standby takes over after the lease expires', async () => {
    const api = new FakeApiServer([builtin.lease]);
    const a = candidate(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const b = candidate(api, 'b');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(a.elector.isLeader()).toBe(true);
    a.link.down = true;
    const cutAt = Date.now();
    let aStopped = 0;
    let bStarted = 0;
    for (let t = 0; t < 40_000; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
      if (!aStopped && !a.elector.isLeader()) aStopped = Date.now();
      if (!bStarted && b.elector.isLeader()) bStarted = Date.now();
    }
    expect(aStopped - cutAt).toBeLessThanOrEqual(10_100); // renewDeadline after the last renew
    expect(bStarted).toBeGreaterThan(aStopped);
    expect(bStarted - cutAt).toBeGreaterThanOrEqual(13_000); // not before the lease ran out
    expect(lease(api)?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // The old leader campaigns again only if asked to; its run() has returned without a release.
    await a.done;
    a.link.down = false;
    b.stop.abort();
    await b.done;
  });

  it('releases even when its copy of the Lease is one write behind', async () => {
    const api = new FakeApiServer([builtin.lease]);
    const a = candidate(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    expect(a.elector.isLeader()).toBe(true);
    api.modify(builtin.lease, 'keyfleet-system', 'keyfleet-operator', {
      metadata: { labels: { touched: 'yes' } },
    });
    a.stop.abort();
    await vi.advanceTimersByTimeAsync(10);
    await a.done;
    expect(a.link.statuses).toContain(409);
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
    expect(lease(api)?.metadata?.labels).toEqual({ touched: 'yes' });
  });

  it('two standbys racing for an expired lease: the resourceVersion lets only one win', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // identical retry timing: a real collision
    const api = new FakeApiServer([builtin.lease]);
    api.latencyMs = 5; // both read the same resourceVersion before either writes
    const a = candidate(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const b = candidate(api, 'b');
    const c = candidate(api, 'c');
    await vi.advanceTimersByTimeAsync(3_000);
    a.link.down = true;
    for (let t = 0; t < 30_000; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      expect(b.elector.isLeader() && c.elector.isLeader()).toBe(false);
    }
    expect([b, c].filter((x) => x.elector.isLeader())).toHaveLength(1);
    expect([...b.link.statuses, ...c.link.statuses]).toContain(409);
    expect(lease(api)?.spec?.leaseTransitions).toBe(1);
    b.stop.abort();
    c.stop.abort();
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([a.done, b.done, c.done]);
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
  });
});
