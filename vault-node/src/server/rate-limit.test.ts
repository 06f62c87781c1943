import { describe, expect, it } from 'vitest';
import { SourceRateLimiter } from './rate-limit.ts';

describe('SourceRateLimiter', () => {
  it('allows a burst, then the rate, per source', () => {
    let now = 0;
    const limiter = new SourceRateLimiter({ ratePerSecond: 2, burst: 3, now: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now = 0.5;
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
  });

  it('forgets the least recently seen source when full', () => {
    const limiter = new SourceRateLimiter({ ratePerSecond: 0, burst: 1, maxSources: 2, now: () => 0 });
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('b')).toBe(true);
    expect(limiter.take('a')).toBe(false);
    expect(limiter.take('c')).toBe(true); // evicts b, the stalest
    expect(limiter.take('a')).toBe(false);
    expect(limiter.take('b')).toBe(true);
  });
});
