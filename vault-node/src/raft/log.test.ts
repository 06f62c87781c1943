import { describe, expect, it } from 'vitest';
import { encodeConfChange } from './conf-change.ts';
import { RaftLog } from './log.ts';
import type { Entry, Snapshot } from './types.ts';

const ABC = { voters: ['a', 'b', 'c'], learners: [] };

function snap(index = 0, term = 0): Snapshot {
  return { metadata: { index, term, membership: ABC }, data: new Uint8Array(0) };
}

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: from + i, term, type: 'normal', data: new Uint8Array([i]) }));
}

function logOf(terms: number[], base = snap()): RaftLog {
  const l = new RaftLog(base);
  l.append(ents(base.metadata.index + 1, terms));
  return l;
}

describe('RaftLog', () => {
  it('answers terms around a compacted prefix', () => {
    const l = logOf([2, 2, 3], snap(5, 2));
    expect([4, 5, 6, 8, 9].map((i) => l.term(i))).toEqual([undefined, 2, 2, 3, undefined]);
    expect(l.slice(5, 7)).toBeUndefined();
    expect(l.slice(6, 100)!.map((e) => e.index)).toEqual([6, 7, 8]);
  });

  it.each<[string, number[], [number, number], number | null, number[]]>([
    // log terms, (prevIndex, prevTerm) + entries' terms from prevIndex + 1 => lastNew, resulting terms
    ['append at the end', [1, 1], [2, 1], 4, [1, 1, 2, 2]],
    ['duplicate append changes nothing', [1, 1, 2, 2], [2, 1], 4, [1, 1, 2, 2]],
    ['conflict truncates from the first difference', [1, 1, 1, 1, 1], [2, 1], 4, [1, 1, 2, 2]],
    ['prev term mismatch is refused', [1, 2], [2, 1], null, [1, 2]],
    ['prev beyond the log is refused', [1], [3, 1], null, [1]],
  ])('maybeAppend: %s', (_, terms, [prevIndex, prevTerm], lastNew, after) => {
    const l = logOf(terms);
    expect(l.maybeAppend(prevIndex, prevTerm, ents(prevIndex + 1, [2, 2]))).toBe(lastNew);
    expect(Array.from({ length: l.lastIndex() }, (_, i) => l.term(i + 1))).toEqual(after);
  });

  it('a shorter stale append does not cut off entries that match', () => {
    const l = logOf([1, 1, 1, 1]);
    expect(l.maybeAppend(1, 1, ents(2, [1]))).toBe(2);
    expect(l.lastIndex()).toBe(4);
  });

  it('never overwrites a committed entry', () => {
    const l = logOf([1, 1, 1]);
    l.commitTo(2);
    expect(() => l.maybeAppend(1, 1, ents(2, [2]))).toThrow(/refusing to overwrite committed entry 2/);
    expect(() => l.commitTo(9)).toThrow(/beyond the last index/);
  });

  it.each<[number[], number, number, number]>([
    // terms, index, term => largest index <= index with term <= term
    [[1, 1, 2, 2, 4, 4], 6, 3, 4],
    [[1, 1, 2, 2, 4, 4], 6, 4, 6],
    [[1, 1, 2, 2, 4, 4], 3, 1, 2],
    [[3, 3], 2, 1, 0],
  ])('findConflictByTerm(%j, %i, %i) = %i', (terms, index, term, want) => {
    expect(logOf(terms).findConflictByTerm(index, term)).toBe(want);
  });

  it('isUpToDate compares last term first, then length', () => {
    const l = logOf([1, 2, 2]);
    expect(l.isUpToDate(3, 2)).toBe(true);
    expect(l.isUpToDate(2, 2)).toBe(false);
    expect(l.isUpToDate(1, 3)).toBe(true);
    expect(l.isUpToDate(9, 1)).toBe(false);
  });

  it('tracks what is unstable and what is committed but not applied', () => {
    const l = logOf([1, 1, 1]);
    expect(l.unstableEntries()).toHaveLength(3);
    l.stableTo(2, 1);
    expect(l.unstableEntries().map((e) => e.index)).toEqual([3]);
    l.stableTo(3, 9); // a stale acknowledgement of a since-replaced entry
    expect(l.stable).toBe(2);
    l.commitTo(3);
    l.appliedTo(1);
    expect(l.nextCommitted().map((e) => e.index)).toEqual([2, 3]);
  });

  it('a truncation below the stable mark hands the replacement out again', () => {
    const l = logOf([1, 1, 1]);
    l.stableTo(3, 1);
    l.maybeAppend(1, 1, ents(2, [2, 2]));
    expect(l.stable).toBe(1);
    expect(l.unstableEntries().map((e) => [e.index, e.term])).toEqual([
      [2, 2],
      [3, 2],
    ]);
  });

  it('derives the membership from conf-change entries, and reverts on truncation', () => {
    const l = new RaftLog(snap());
    const cc: Entry = {
      index: 2,
      term: 1,
      type: 'conf-change',
      data: encodeConfChange({ kind: 'remove', member: 'c' }),
    };
    l.append([...ents(1, [1]), cc, ...ents(3, [1])]);
    expect(l.membership()).toEqual({ voters: ['a', 'b'], learners: [] });
    expect(l.membershipAt(1)).toEqual(ABC);
    expect(l.lastConfIndex()).toBe(2);
    l.maybeAppend(1, 1, ents(2, [2]));
    expect(l.membership()).toEqual(ABC);
    expect(l.lastConfIndex()).toBe(0);
  });

  it('compacts to a snapshot and restores from one', () => {
    const l = logOf([1, 1, 2, 2]);
    l.commitTo(4);
    l.stableTo(4, 2);
    l.appliedTo(3);
    l.compact(snap(3, 2));
    expect([l.firstIndex(), l.lastIndex(), l.term(3), l.term(4)]).toEqual([4, 4, 2, 2]);
    l.restore(snap(10, 3));
    expect([l.lastIndex(), l.committed, l.pendingSnapshot?.metadata.index]).toEqual([10, 10, 10]);
    expect(l.nextCommitted()).toEqual([]);
  });
});
