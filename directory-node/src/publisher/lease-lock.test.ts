import { describe, expect, it } from 'vitest';
import { type LeaseRecord, type LeaseStore, type LeaseWrite, LeaseWriterLock } from './lease-lock.ts';

/** An in-memory Lease with the API server's compare-and-swap on resourceVersion. */
class MemoryLease implements LeaseStore {
  record: LeaseRecord = { resourceVersion: '1' };
  writes = 0;
  failing = false;
  async get(): Promise<LeaseRecord> {
    if (this.failing) throw new Error('apiserver unreachable');
    return this.record;
  }
  async update(write: LeaseWrite, resourceVersion: string): Promise<LeaseRecord | 'conflict'> {
    if (this.failing) throw new Error('apiserver unreachable');
    if (resourceVersion !== this.record.resourceVersion) return 'conflict';
    this.writes++;
    this.record = { ...write, resourceVersion: String(Number(resourceVersion) + 1) };
    return this.record;
  }
}

/** A manual clock: sleeps resolve as time is advanced. */
class Clock {
  ms = 0;
  #sleepers: { at: number; resolve: () => void }[] = [];
  sleep = (ms: number) => new Promise<void>((resolve) => this.#sleepers.push({ at: this.ms + ms, resolve }));
  async advance(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.ms += step;
      const due = this.#sleepers.filter((s) => s.at <= this.ms);
      this.#sleepers = this.#sleepers.filter((s) => s.at > this.ms);
      for (const s of due) s.resolve();
      for (let i = 0; i < 5; i++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
    }
  }
}

function lock(store: LeaseStore, clock: Clock, identity: string, lost: string[] = []) {
  return new LeaseWriterLock({
    store,
    identity,
    monotonicMs: () => clock.ms,
    sleep: clock.sleep,
    now: () => new Date(Date.UTC(2026, 10, 23) + clock.ms),
    onLost: (reason) => lost.push(`${identity}: ${reason}`),
  });
}

describe('LeaseWriterLock', () => {
  it('takes a Lease nobody holds and renews it every retry period', async () => {
    const store = new MemoryLease();
    const clock = new Clock();
    const a = lock(store, clock, 'pub-a');
    await a.acquire();
    expect(a.held()).toBe(true);
    expect(store.record.holderIdentity).toBe('pub-a');
    expect(store.record.leaseTransitions).toBe(1);
    expect(store.record.renewTime).toMatch(/^2026-11-23T00:00:00\.000000Z$/);
    await clock.advance(20_000);
    expect(a.held()).toBe(true);
    expect(store.writes).toBeGreaterThanOrEqual(10);
  });

  it('a standby waits while the holder renews, and takes over only after a full lease duration of silence', async () => {
    const store = new MemoryLease();
    const clock = new Clock();
    const lost: string[] = [];
    const a = lock(store, clock, 'pub-a', lost);
    await a.acquire();
    const b = lock(store, clock, 'pub-b', lost);
    let bHolds = false;
    const standby = b.acquire().then(() => (bHolds = true));
    await clock.advance(60_000);
    expect(bHolds).toBe(false);
    expect(b.held()).toBe(false);
    // The holder's API server connection breaks: it stops itself at the renew deadline, before
    // the standby may take over after the lease duration.
    store.failing = true;
    await clock.advance(10_500);
    expect(a.held()).toBe(false);
    expect(lost).toEqual(['pub-a: could not renew the Lease before the renew deadline']);
    store.failing = false;
    expect(bHolds).toBe(false);
    // The standby could not read the Lease during the outage either, so it counts a full lease
    // duration from when it next sees the record unchanged.
    await clock.advance(14_000);
    expect(bHolds).toBe(false);
    await clock.advance(4_000);
    await standby;
    expect(b.held()).toBe(true);
    expect(store.record.holderIdentity).toBe('pub-b');
    expect(store.record.leaseTransitions).toBe(2);
  });

  it('never lets two writers hold at once, whatever the interleaving', async () => {
    const store = new MemoryLease();
    const clock = new Clock();
    const locks = ['a', 'b', 'c'].map((id) => lock(store, clock, id));
    for (const l of locks) void l.acquire();
    for (let i = 0; i < 100; i++) {
      await clock.advance(500);
      expect(locks.filter((l) => l.held()).length).toBeLessThanOrEqual(1);
      if (i === 30) store.failing = true;
      if (i === 45) store.failing = false;
    }
    expect(locks.filter((l) => l.held()).length).toBe(1);
  });

  it('loses the lock when someone else overwrote the Lease, and says so once', async () => {
    const store = new MemoryLease();
    const clock = new Clock();
    const lost: string[] = [];
    const a = lock(store, clock, 'pub-a', lost);
    await a.acquire();
    store.record = { ...store.record, holderIdentity: 'intruder', resourceVersion: '99' };
    await clock.advance(3_000);
    expect(a.held()).toBe(false);
    expect(lost).toEqual(['pub-a: the Lease is now held by intruder']);
  });

  it('release hands the Lease over at once', async () => {
    const store = new MemoryLease();
    const clock = new Clock();
    const a = lock(store, clock, 'pub-a');
    await a.acquire();
    const b = lock(store, clock, 'pub-b');
    let bHolds = false;
    void b.acquire().then(() => (bHolds = true));
    await clock.advance(4_000);
    const releasing = a.release();
    await clock.advance(2_000);
    await releasing;
    expect(store.record.holderIdentity === '' || store.record.holderIdentity === 'pub-b').toBe(true);
    await clock.advance(2_500);
    expect(bHolds).toBe(true);
    expect(a.held()).toBe(false);
  });

  it('refuses timings that would let the old writer outlive its lease', () => {
    expect(
      () =>
        new LeaseWriterLock({
          store: new MemoryLease(),
          identity: 'x',
          timings: { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
        }),
    ).toThrow(/renewDeadline < leaseDuration/);
  });
});
