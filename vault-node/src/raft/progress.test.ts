import { describe, expect, it } from 'vitest';
import { Progress } from './progress.ts';

describe('Progress', () => {
  it('probe: one append in flight until answered', () => {
    const p = new Progress(5, 4);
    expect(p.isPaused()).toBe(false);
    p.sentAppend(6, 2);
    expect(p.isPaused()).toBe(true);
    expect(p.maybeUpdate(6)).toBe(true);
    expect(p.isPaused()).toBe(false);
    expect(p.maybeUpdate(6)).toBe(false); // stale
  });

  it('replicate: streams up to the inflight limit and frees on acknowledgement', () => {
    const p = new Progress(1, 2);
    p.becomeReplicate();
    p.sentAppend(3, 3);
    p.sentAppend(5, 2);
    expect([p.next, p.isPaused()]).toEqual([6, true]);
    p.freeTo(3);
    expect(p.isPaused()).toBe(false);
    p.sentAppend(7, 2);
    p.freeFirst(); // a heartbeat answer lets one more through
    expect(p.isPaused()).toBe(false);
  });

  it.each<
    [string, 'probe' | 'replicate', { match: number; next: number }, [number, number], boolean, number]
  >([
    // state, progress, (rejected, hint) => applies?, next after
    ['probe backs off to the hint', 'probe', { match: 0, next: 10 }, [9, 4], true, 5],
    ['probe never goes below match + 1', 'probe', { match: 6, next: 10 }, [9, 2], true, 7],
    ['probe ignores a rejection of an older append', 'probe', { match: 0, next: 10 }, [7, 2], false, 10],
    ['replicate falls back to match + 1', 'replicate', { match: 4, next: 12 }, [8, 2], true, 5],
    [
      'replicate ignores a rejection at or below match',
      'replicate',
      { match: 8, next: 12 },
      [8, 2],
      false,
      12,
    ],
  ])('maybeDecrTo: %s', (_, state, at, [rejected, hint], applies, next) => {
    const p = new Progress(at.next, 8);
    p.match = at.match;
    if (state === 'replicate') {
      p.becomeReplicate();
      p.next = at.next;
    }
    expect(p.maybeDecrTo(rejected, hint)).toBe(applies);
    expect(p.next).toBe(next);
  });

  it('snapshot: paused until the follower answers, then probes after the snapshot', () => {
    const p = new Progress(1, 8);
    p.becomeSnapshot(20);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect([p.state, p.next]).toEqual(['probe', 21]);
  });
});
