import { DecodeError } from '@keyfleet/sdk/bytes';
import { describe, expect, it } from 'vitest';
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  quorum,
} from './conf-change.ts';
import type { ConfChange, Membership } from './types.ts';

const m3: Membership = { voters: ['a', 'b', 'c'], learners: ['d'] };

describe('conf change encoding', () => {
  it.each<ConfChange>([
    { kind: 'add-learner', member: 'backups-dc4' },
    { kind: 'promote', member: 'd' },
    { kind: 'remove', member: 'a.b-c' },
  ])('round-trips %j', (cc) => {
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
  });

  it.each([
    ['empty', []],
    ['unknown version', [2, 0, 1, 0, 97]],
    ['unknown kind', [1, 9, 1, 0, 97]],
    ['invalid member id', [1, 0, 1, 0, 65]],
    ['trailing bytes', [1, 0, 1, 0, 97, 0]],
  ])('refuses %s', (_, bytes) => {
    expect(() => decodeConfChange(new Uint8Array(bytes))).toThrow(DecodeError);
  });
});

describe('applying and validating', () => {
  it.each<[ConfChange, Membership]>([
    [
      { kind: 'add-learner', member: 'e' },
      { voters: ['a', 'b', 'c'], learners: ['d', 'e'] },
    ],
    [
      { kind: 'promote', member: 'd' },
      { voters: ['a', 'b', 'c', 'd'], learners: [] },
    ],
    [
      { kind: 'remove', member: 'b' },
      { voters: ['a', 'c'], learners: ['d'] },
    ],
    [
      { kind: 'remove', member: 'd' },
      { voters: ['a', 'b', 'c'], learners: [] },
    ],
  ])('%j', (cc, want) => {
    expect(confChangeProblem(m3, cc)).toBeNull();
    const got = applyConfChange(m3, cc);
    expect(got).toEqual(want);
    expect(applyConfChange(got, cc)).toEqual(want); // replaying is harmless
  });

  it.each<[ConfChange, RegExp]>([
    [{ kind: 'add-learner', member: 'a' }, /already a voter/],
    [{ kind: 'add-learner', member: 'd' }, /already a learner/],
    [{ kind: 'promote', member: 'a' }, /not a learner/],
    [{ kind: 'promote', member: 'z' }, /not a learner/],
    [{ kind: 'remove', member: 'z' }, /not a member/],
  ])('refuses %j', (cc, why) => {
    expect(confChangeProblem(m3, cc)).toMatch(why);
  });

  it('refuses to remove the last voter', () => {
    expect(confChangeProblem({ voters: ['a'], learners: [] }, { kind: 'remove', member: 'a' })).toMatch(
      /last voter/,
    );
  });

  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [7, 4],
  ])('%i voters need %i', (n, q) => {
    expect(quorum({ voters: Array.from({ length: n }, (_, i) => `n${i}`), learners: [] })).toBe(q);
  });
});
