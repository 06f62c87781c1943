import { describe, expect, it } from 'vitest';
import { CounterSource, ReplayGuard } from './replay-guard.ts';

describe('replay protection', () => {
  it('counters increase strictly even when the clock stalls or steps back', () => {
    let now = 1_000_000;
    const src = new CounterSource(() => now);
    const a = src.next();
    const b = src.next();
    now -= 500;
    const c = src.next();
    expect([a, b, c]).toEqual([1_000_000, 1_000_001, 1_000_002]);
  });

  it('accepts each counter once per sender and channel, in increasing order, within the window', () => {
    let now = 10_000_000;
    const guard = new ReplayGuard(1_000_000, () => now);
    expect(guard.accept('n1', 1, now)).toBe('ok');
    expect(guard.accept('n1', 1, now)).toBe('replay');
    expect(guard.accept('n1', 1, now - 1)).toBe('replay');
    expect(guard.accept('n1', 2, now)).toBe('ok');
    expect(guard.accept('n2', 1, now)).toBe('ok');
    expect(guard.accept('n1', 1, now + 5)).toBe('ok');
    // A receiver that restarted has forgotten what it saw; the window still stops old captures.
    const fresh = new ReplayGuard(1_000_000, () => now);
    expect(fresh.accept('n1', 1, now - 2_000_000)).toBe('outside-window');
    expect(fresh.accept('n1', 1, now + 2_000_000)).toBe('outside-window');
    now += 10;
    expect(fresh.accept('n1', 1, now)).toBe('ok');
  });
});
