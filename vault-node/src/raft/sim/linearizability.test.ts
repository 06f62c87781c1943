import { describe, expect, it } from 'vitest';
import { type CounterOp, checkCounterHistory } from './linearizability.ts';

const inc = (call: number, ret: number, value: number): CounterOp => ({ kind: 'inc', call, ret, value });
const lost = (call: number): CounterOp => ({ kind: 'inc', call, ret: null, value: null });
const read = (call: number, ret: number, value: number): CounterOp => ({ kind: 'read', call, ret, value });

describe('counter linearizability', () => {
  it.each<[string, CounterOp[]]>([
    ['empty', []],
    ['sequential', [inc(1, 2, 1), inc(3, 4, 2), read(5, 6, 2)]],
    ['concurrent increments in either order', [inc(1, 4, 2), inc(2, 3, 1)]],
    ['read concurrent with an increment sees before', [inc(1, 4, 1), read(2, 3, 0)]],
    ['read concurrent with an increment sees after', [inc(1, 4, 1), read(2, 3, 1)]],
    ['an unanswered increment explains a read', [lost(1), read(2, 3, 1)]],
    ['an unanswered increment may never happen', [lost(1), read(2, 3, 0), inc(4, 5, 1)]],
    [
      'unanswered increments taking effect late',
      [lost(1), lost(2), read(3, 4, 0), read(5, 6, 1), read(7, 8, 2)],
    ],
  ])('accepts: %s', (_, h) => {
    expect(checkCounterHistory(h)).toEqual({ ok: true });
  });

  it.each<[string, CounterOp[]]>([
    ['a lost acknowledged increment', [inc(1, 2, 1), read(3, 4, 0)]],
    ['a stale read after a newer one', [inc(1, 2, 1), read(3, 4, 1), read(5, 6, 0)]],
    ['an increment applied twice', [inc(1, 2, 1), inc(3, 4, 3)]],
    ['two increments with one value', [inc(1, 4, 1), inc(2, 3, 1)]],
    ['order against real time', [inc(1, 2, 2), inc(3, 4, 1)]],
    ['a read from the future', [read(1, 2, 1), inc(3, 4, 1)]],
    ['more effects than calls', [lost(1), read(2, 3, 2)]],
  ])('refuses: %s', (_, h) => {
    const r = checkCounterHistory(h);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/not linearizable/);
  });

  it('handles many unanswered increments and concurrent clients quickly', () => {
    const h: CounterOp[] = [];
    let t = 0;
    let v = 0;
    for (let i = 0; i < 40; i++) h.push(lost(t++));
    for (let i = 0; i < 200; i++) {
      // Three clients overlapping; values consistent with 40 lost increments never applied.
      const a = t++;
      const b = t++;
      v++;
      h.push(inc(a, t + 2, v), read(b, t + 1, v - 1));
      t += 3;
    }
    expect(checkCounterHistory(h, 2_000_000)).toEqual({ ok: true });
  });
});
