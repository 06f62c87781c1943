import { describe, expect, it } from 'vitest';
import type { RaftStatus } from '../core.ts';
import { type Persisted, utf8 } from '../testing.ts';
import type { Entry } from '../types.ts';
import { Invariants } from './invariants.ts';
import { runSchedule } from './simulation.ts';

const e = (index: number, term: number, data = `x${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data: utf8(data),
});
const store = (terms: number[]): Persisted => ({
  hardState: { term: 9, vote: null, commit: 0 },
  entries: terms.map((t, i) => e(i + 1, t)),
});
const leader = (id: string, term: number, commit: number, voters = ['a', 'b', 'c']): RaftStatus => ({
  id,
  term,
  role: 'leader',
  leader: id,
  commit,
  applied: commit,
  lastIndex: commit,
  membership: { voters, learners: [] },
});

describe('invariants catch what they claim to', () => {
  it('election safety', () => {
    const inv = new Invariants();
    inv.onStatus(leader('a', 3, 0));
    inv.onStatus(leader('a', 3, 0));
    expect(() => inv.onStatus(leader('b', 3, 0))).toThrow(
      /election safety: a and b are both leaders of term 3/,
    );
  });

  it('state-machine safety', () => {
    const inv = new Invariants();
    inv.onApply('a', e(1, 1), 1);
    inv.onApply('b', e(1, 1), 1);
    expect(() => inv.onApply('c', e(1, 2, 'other'), 1)).toThrow(/state-machine safety/);
  });

  it('log matching', () => {
    const inv = new Invariants();
    const a = store([1, 1, 2]);
    const b = store([1, 1, 2]);
    b.entries[1] = e(2, 1, 'different');
    expect(() =>
      inv.checkLogMatching(
        new Map([
          ['a', a],
          ['b', b],
        ]),
      ),
    ).toThrow(/log matching: a and b agree at 3/);
    expect(() =>
      inv.checkLogMatching(
        new Map([
          ['a', a],
          ['c', store([1, 3, 3])],
        ]),
      ),
    ).not.toThrow();
  });

  it('leader completeness', () => {
    const inv = new Invariants();
    inv.onStatus(leader('a', 2, 2));
    inv.onApply('a', e(1, 1), 1);
    inv.onApply('a', e(2, 2), 2);
    inv.onReady('b', leader('b', 3, 1), store([1, 1]), {
      entries: [],
      messages: [],
      committedEntries: [],
      readStates: [],
    });
    expect(() => inv.checkLeaderCompleteness()).toThrow(/leader completeness: 2 was committed in term 2/);
  });

  it('commit safety (Figure 8): a commit some member lacking it could still overturn', () => {
    const inv = new Invariants();
    // a commits index 2 of term 2 by counting a and b; c holds a term-3 entry at 2 and would win.
    const stores = new Map([
      ['a', store([1, 2])],
      ['b', store([1, 2])],
      ['c', store([1, 3])],
    ]);
    expect(() => inv.onCommit(leader('a', 4, 2), stores)).toThrow(
      /commit safety: a \(term 4\) committed 2 \(term 2\)/,
    );
    stores.set('b', store([1, 2, 4]));
    stores.set('a', store([1, 2, 4]));
    expect(() => inv.onCommit(leader('a', 4, 3), stores)).not.toThrow();
  });

  it('acknowledged increments applied exactly once', () => {
    const inv = new Invariants();
    inv.onApply('a', e(1, 1, 'op1'), 1);
    inv.onApply('a', e(2, 1, 'op1'), 2);
    expect(() => inv.checkAckedApplied([{ data: utf8('op1'), value: 1 }])).toThrow(/applied 2 times/);
    expect(() => inv.checkAckedApplied([{ data: utf8('op2'), value: 1 }])).toThrow(/applied 0 times/);
  });
});

describe('simulation', () => {
  it('is deterministic: a seed replays exactly', () => {
    const a = runSchedule(7);
    const b = runSchedule(7);
    expect(a.ok).toBe(true);
    expect(b.stats).toEqual(a.stats);
    expect(a.stats.acked).toBeGreaterThan(10);
  });
});
