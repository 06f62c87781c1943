import { describe, expect, it, vi } from 'vitest';
import { Backoff, jittered, sleep } from './backoff.ts';

describe('Backoff', () => {
  it('doubles from initial up to max, and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('adds up to jitter×delay on top, never less than the base', () => {
    expect(jittered(1000, 0.5, () => 0)).toBe(1000);
    expect(jittered(1000, 0.5, () => 0.999)).toBeCloseTo(1499.5);
    const b = new Backoff({ initialMs: 100, maxMs: 1000 });
    for (let i = 0; i < 50; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(1500);
    }
  });
});

describe('sleep', () => {
  it('resolves true after the delay and false when aborted', async () => {
    vi.useFakeTimers();
    try {
      const done = sleep(1000);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await done).toBe(true);
      const stop = new AbortController();
      const early = sleep(1000, stop.signal);
      stop.abort();
      expect(await early).toBe(false);
      expect(await sleep(5, stop.signal)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
