import { describe, expect, it } from 'vitest';
import {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
} from './ratelimiter.ts';

describe('rate limiters', () => {
  it('per-key exponential: 5 ms doubling to a 5 min cap, independent per key, reset by forget', () => {
    const l = new ItemExponentialRateLimiter(5, 300_000);
    const delays = Array.from({ length: 20 }, () => l.when('a'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays.at(-1)).toBe(300_000);
    expect(Math.max(...delays)).toBe(300_000);
    expect(l.numRequeues('a')).toBe(20);
    expect(l.when('b')).toBe(5);
    l.forget('a');
    expect(l.numRequeues('a')).toBe(0);
    expect(l.when('a')).toBe(5);
    for (let i = 0; i < 2000; i++) l.when('c');
    expect(l.when('c')).toBe(300_000);
  });

  it('token bucket: a burst goes through, then one per 1/qps, refilled over time', () => {
    let now = 0;
    const l = new BucketRateLimiter(10, 3, () => now);
    expect([l.when('a'), l.when('b'), l.when('c')]).toEqual([0, 0, 0]);
    expect(l.when('d')).toBeCloseTo(100);
    expect(l.when('e')).toBeCloseTo(200);
    now = 1000; // 10 tokens refill, but the bucket holds at most 3 and owed 2
    expect([l.when('f'), l.when('g'), l.when('h')]).toEqual([0, 0, 0]);
    expect(l.when('i')).toBeCloseTo(100);
  });

  it('max-of takes the longer delay, and the default is 5 ms per key within a 100-token bucket', () => {
    const l = new MaxOfRateLimiter(
      new ItemExponentialRateLimiter(5, 1000),
      new BucketRateLimiter(1, 1, () => 0),
    );
    expect(l.when('a')).toBe(5);
    expect(l.when('a')).toBe(1000); // bucket empty: 1 s
    const d = defaultControllerRateLimiter();
    expect(d.when('x')).toBe(5);
    expect(d.when('x')).toBe(10);
    d.forget('x');
    expect(d.numRequeues('x')).toBe(0);
  });
});
