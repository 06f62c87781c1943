import { afterEach, describe, expect, it, vi } from 'vitest';
import { ItemExponentialRateLimiter } from './ratelimiter.ts';
import { type QueueMetricsSink, WorkQueue } from './workqueue.ts';

afterEach(() => {
  vi.useRealTimers();
});

function recordingMetrics() {
  const m = { depth: [] as number[], added: 0, retried: 0, queued: 0, worked: 0 };
  const sink: QueueMetricsSink = {
    depth: (n) => m.depth.push(n),
    added: () => m.added++,
    retried: () => m.retried++,
    queued: () => m.queued++,
    worked: () => m.worked++,
  };
  return { m, sink };
}

describe('WorkQueue', () => {
  it('de-duplicates keys and hands them out in order', async () => {
    const { m, sink } = recordingMetrics();
    const q = new WorkQueue({ metrics: sink });
    for (const k of ['a', 'b', 'a', 'c', 'b']) q.add(k);
    expect(q.len()).toBe(3);
    expect(m.added).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
    expect(m.depth.at(-1)).toBe(0);
    expect(m.queued).toBe(3);
  });

  it('never hands out a key that is being processed; an add meanwhile re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined = 'pending';
    const waiting = q.get().then((k) => {
      second = k;
    });
    await Promise.resolve();
    expect(second).toBe('pending');
    q.done('a');
    await waiting;
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(0);
  });

  it('under concurrent workers: no key is worked twice at once, and every add is followed by a reconcile', async () => {
    const q = new WorkQueue();
    const keys = ['a', 'b', 'c', 'd'];
    const active = new Set<string>();
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    let clock = 0;
    let violations = 0;
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const worker = async () => {
      for (let key = await q.get(); key !== undefined; key = await q.get()) {
        if (active.has(key)) violations++;
        active.add(key);
        lastStart.set(key, ++clock);
        await new Promise((r) => setTimeout(r, rand() * 2));
        active.delete(key);
        q.done(key);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    for (let i = 0; i < 300; i++) {
      const key = keys[Math.floor(rand() * keys.length)] as string;
      lastAdd.set(key, ++clock);
      q.add(key);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    while (q.len() > 0 || q.processing() > 0) await new Promise((r) => setTimeout(r, 2));
    await q.shutdown({ drain: true });
    await Promise.all(workers);
    expect(violations).toBe(0);
    for (const k of keys) expect(lastStart.get(k) ?? 0).toBeGreaterThan(lastAdd.get(k) ?? 0);
  });

  it('delays adds, keeping the earliest time asked for', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter('a', 1000);
    q.addAfter('a', 500);
    q.addAfter('a', 2000);
    q.addAfter('b', 0);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('b');
    await vi.advanceTimersByTimeAsync(499);
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    expect(q.delayed()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(q.len()).toBe(1); // the later requests were folded into the earliest
  });

  it('retries with per-key exponential delays until forgotten', async () => {
    vi.useFakeTimers();
    const { m, sink } = recordingMetrics();
    const q = new WorkQueue({ rateLimiter: new ItemExponentialRateLimiter(5, 300_000), metrics: sink });
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      q.addRateLimited('a');
      const got = q.get();
      await vi.advanceTimersByTimeAsync(1000);
      expect(await got).toBe('a');
      times.push(q.numRequeues('a'));
      q.done('a');
    }
    expect(times).toEqual([1, 2, 3, 4]);
    expect(m.retried).toBe(4);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    // 5 ms, then 10: the second retry is not ready after 9 ms.
    q.addRateLimited('b');
    await vi.advanceTimersByTimeAsync(5);
    expect(await q.get()).toBe('b');
    q.done('b');
    q.addRateLimited('b');
    await vi.advanceTimersByTimeAsync(9);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
  });

  it('shutdown wakes idle workers, drops queued keys, ignores new adds, and drains work in flight', async () => {
    const q = new WorkQueue();
    const idle = q.get();
    q.add('a');
    expect(await idle).toBe('a');
    q.add('b');
    q.addAfter('c', 10);
    const idle2 = q.get(); // gets b
    expect(await idle2).toBe('b');
    q.done('b');
    let drained = false;
    const shut = q.shutdown({ drain: true }).then(() => {
      drained = true;
    });
    q.add('d');
    expect(await q.get()).toBeUndefined();
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done('a');
    await shut;
    expect(drained).toBe(true);
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(0);
  });
});
