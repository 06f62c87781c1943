import { recordDigest } from '@keyfleet/sdk/backup/crypto';
import { toHex } from '@keyfleet/sdk/hsm/bytes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommittedAttempt } from '../hsm/attempt-ledger.ts';
import type { Entry } from '../raft/types.ts';
import {
  decodeAttemptResult,
  decodeCommand,
  decodePlainResult,
  decodeResetResult,
  type EscrowCommand,
  encodeCommand,
  MAX_COMMAND_BYTES,
} from './commands.ts';
import { EscrowStateMachine, type EscrowStateMachineOptions } from './state-machine.ts';

// Two possible registrations per test; digests of each, and a digest of neither.
const VARIANTS = [0, 1].map((v) => ({
  credentialNonce: new Uint8Array(16).fill(10 + v),
  registrationRecord: new Uint8Array(192).fill(20 + v),
}));
const DIGESTS = [
  ...VARIANTS.map((v) => recordDigest(v.credentialNonce, v.registrationRecord)),
  new Uint8Array(32),
];
const SEALED = [new Uint8Array(72).fill(1), new Uint8Array(72).fill(2)];
const USERS = ['alice', 'bob', 'carol'];

/** A machine fed entries of term 1 from index `after` + 1 on (a restored one continues the log). */
function machine(after = 0, o: EscrowStateMachineOptions = {}) {
  const sm = new EscrowStateMachine(o);
  let index = after;
  const apply = (c: EscrowCommand | Uint8Array) =>
    sm.apply({
      term: 1,
      index: ++index,
      type: 'normal',
      data: c instanceof Uint8Array ? c : encodeCommand(c),
    });
  return { sm, apply };
}

const register = (
  userId: string,
  guessLimit: number,
  v = 0,
  replace: Uint8Array | null = null,
): EscrowCommand => ({
  op: 'register',
  userId,
  guessLimit,
  // A replacement keeps SEALED[0] as its backup key.
  replace: replace && { digest: replace, sealedBackupKey: SEALED[0]! },
  ...VARIANTS[v]!,
});

describe('escrow state machine: granted attempts for the HSM', () => {
  it('reports each granted attempt with its entry, and the result names the same entry', () => {
    const granted: CommittedAttempt[] = [];
    const { apply } = machine(41, { onAttemptGranted: (a) => granted.push(a) });
    apply(register('alice', 2)); // index 42
    const first = decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' }));
    expect(first).toMatchObject({ status: 'ok', attempts: 1, attempt: { index: 43, term: 1 } });
    expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'bob' })).status).toBe('not-found');
    apply({ op: 'attempt', userId: 'alice' }); // index 45
    expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' })).status).toBe('locked');
    // Only granted attempts are reported: not the unknown user, not the one that locked.
    expect(granted).toEqual([
      { index: 43, term: 1, userId: 'alice', recordDigest: DIGESTS[0] },
      { index: 45, term: 1, userId: 'alice', recordDigest: DIGESTS[0] },
    ]);
  });
});

describe('escrow state machine: the guess limit', () => {
  it('grants exactly guessLimit evaluations, then locks forever', () => {
    for (const limit of [1, 2, 10, 255]) {
      const { sm, apply } = machine();
      expect(decodePlainResult(apply(register('alice', limit))).status).toBe('ok');
      for (let i = 1; i <= limit; i++) {
        const r = decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' }));
        expect(r).toMatchObject({ status: 'ok', attempts: i, guessLimit: limit });
      }
      expect(sm.get('alice')).toMatchObject({ attempts: limit, locked: false });
      expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' })).status).toBe('locked');
      expect(sm.get('alice')).toMatchObject({ attempts: limit, locked: true });
      // Locked forever: no operation changes it, not even with the right registration digest.
      const d = DIGESTS[0]!;
      expect(
        decodeResetResult(apply({ op: 'reset-attempts', userId: 'alice', recordDigest: d })).status,
      ).toBe('locked');
      expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' })).status).toBe('locked');
      expect(decodePlainResult(apply({ op: 'delete', userId: 'alice', recordDigest: d })).status).toBe(
        'locked',
      );
      expect(
        decodePlainResult(
          apply({ op: 'set-backup-key', userId: 'alice', recordDigest: d, sealedBackupKey: SEALED[0]! }),
        ).status,
      ).toBe('locked');
      expect(decodePlainResult(apply(register('alice', limit, 1, d))).status).toBe('locked');
      expect(decodePlainResult(apply(register('alice', limit))).status).toBe('exists');
      expect(sm.get('alice')).toMatchObject({ attempts: limit, locked: true });
    }
  });

  it('a successful login (reset) at the last attempt restores the full budget and returns the sealed key', () => {
    const { apply } = machine();
    apply(register('alice', 3));
    apply({ op: 'set-backup-key', userId: 'alice', recordDigest: DIGESTS[0]!, sealedBackupKey: SEALED[1]! });
    for (let i = 0; i < 3; i++) apply({ op: 'attempt', userId: 'alice' });
    const reset = decodeResetResult(
      apply({ op: 'reset-attempts', userId: 'alice', recordDigest: DIGESTS[0]! }),
    );
    expect(reset).toEqual({ status: 'ok', sealedBackupKey: SEALED[1] });
    expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' }))).toMatchObject({
      status: 'ok',
      attempts: 1,
    });
  });

  it('authorised operations apply only to the registration they were authorised for', () => {
    const { sm, apply } = machine();
    apply(register('alice', 5));
    const stale = DIGESTS[1]!;
    expect(
      decodeResetResult(apply({ op: 'reset-attempts', userId: 'alice', recordDigest: stale })).status,
    ).toBe('stale');
    expect(decodePlainResult(apply({ op: 'delete', userId: 'alice', recordDigest: stale })).status).toBe(
      'stale',
    );
    expect(decodePlainResult(apply(register('alice', 5, 1, stale))).status).toBe('stale');
    expect(decodePlainResult(apply(register('alice', 5, 1, DIGESTS[0]!))).status).toBe('ok');
    expect(sm.get('alice')?.registrationRecord).toEqual(VARIANTS[1]!.registrationRecord);
    expect(
      decodePlainResult(apply({ op: 'delete', userId: 'alice', recordDigest: DIGESTS[0]! })).status,
    ).toBe('stale');
    expect(
      decodePlainResult(apply({ op: 'delete', userId: 'alice', recordDigest: DIGESTS[1]! })).status,
    ).toBe('ok');
    expect(sm.get('alice')).toBeUndefined();
    expect(decodeAttemptResult(apply({ op: 'attempt', userId: 'alice' })).status).toBe('not-found');
  });

  it('ignores entries that are not normal commands', () => {
    const { sm } = machine();
    const before = sm.snapshot();
    const e: Entry = { term: 1, index: 1, type: 'noop', data: encodeCommand(register('alice', 1)) };
    expect(sm.apply(e)).toEqual(new Uint8Array());
    expect(sm.snapshot()).toEqual(before);
  });
});

// ---- model-based property test ---------------------------------------------------------------------

interface ModelRecord {
  digest: string;
  guessLimit: number;
  attempts: number;
  locked: boolean;
  sealed: number | null;
}

const userArb = fc.constantFrom(...USERS);
const digestArb = fc.nat(2);
const commandArb = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const),
    userId: userArb,
    guessLimit: fc.integer({ min: 1, max: 4 }),
    variant: fc.nat(1),
    replace: fc.option(digestArb, { nil: null }),
  }),
  fc.record({ kind: fc.constant('attempt' as const), userId: userArb }),
  fc.record({ kind: fc.constant('attempt' as const), userId: userArb }),
  fc.record({ kind: fc.constant('reset-attempts' as const), userId: userArb, digest: digestArb }),
  fc.record({
    kind: fc.constant('set-backup-key' as const),
    userId: userArb,
    digest: digestArb,
    sealed: fc.nat(1),
  }),
  fc.record({ kind: fc.constant('delete' as const), userId: userArb, digest: digestArb }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({
    kind: fc.constant('mutated' as const),
    userId: userArb,
    at: fc.nat(300),
    xor: fc.integer({ min: 1, max: 255 }),
  }),
);
type Cmd = typeof commandArb extends fc.Arbitrary<infer T> ? T : never;

function toCommand(c: Cmd): EscrowCommand | Uint8Array {
  switch (c.kind) {
    case 'register':
      return register(c.userId, c.guessLimit, c.variant, c.replace === null ? null : DIGESTS[c.replace]!);
    case 'attempt':
      return { op: 'attempt', userId: c.userId };
    case 'reset-attempts':
    case 'delete':
      return { op: c.kind, userId: c.userId, recordDigest: DIGESTS[c.digest]! };
    case 'set-backup-key':
      return {
        op: c.kind,
        userId: c.userId,
        recordDigest: DIGESTS[c.digest]!,
        sealedBackupKey: SEALED[c.sealed]!,
      };
    case 'garbage':
      return c.bytes;
    case 'mutated': {
      const bytes = encodeCommand(register(c.userId, 2));
      const at = c.at % bytes.length;
      bytes[at]! ^= c.xor;
      return bytes;
    }
  }
}

/** The specification, written plainly: what each command must answer and do. */
function modelApply(
  model: Map<string, ModelRecord>,
  c: EscrowCommand,
): { status: string; payload?: unknown } {
  const r = model.get(c.userId);
  const fresh = (r: Extract<EscrowCommand, { op: 'register' }>): ModelRecord => ({
    digest: toHex(recordDigest(r.credentialNonce, r.registrationRecord)),
    guessLimit: r.guessLimit,
    attempts: 0,
    locked: false,
    sealed: r.replace ? r.replace.sealedBackupKey[0]! - 1 : null,
  });
  if (c.op === 'register' && c.replace === null) {
    if (r) return { status: 'exists' };
    model.set(c.userId, fresh(c));
    return { status: 'ok' };
  }
  if (!r) return { status: 'not-found' };
  if (r.locked) return { status: 'locked' };
  if (c.op === 'attempt') {
    if (r.attempts >= r.guessLimit) {
      r.locked = true;
      return { status: 'locked' };
    }
    r.attempts++;
    return { status: 'ok', payload: r.attempts };
  }
  const digest = c.op === 'register' ? c.replace!.digest : c.recordDigest;
  if (toHex(digest) !== r.digest) return { status: 'stale' };
  switch (c.op) {
    case 'register':
      model.set(c.userId, fresh(c));
      return { status: 'ok' };
    case 'set-backup-key':
      r.sealed = c.sealedBackupKey[0]! - 1;
      return { status: 'ok' };
    case 'reset-attempts':
      r.attempts = 0;
      return { status: 'ok', payload: r.sealed };
    case 'delete':
      model.delete(c.userId);
      return { status: 'ok' };
  }
}

function decoded(bytes: Uint8Array): EscrowCommand | null {
  try {
    return decodeCommand(bytes);
  } catch {
    return null;
  }
}

describe('escrow state machine against its model (property)', () => {
  it('answers and changes state exactly as specified; malformed commands change nothing', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 60 }), (cmds) => {
        const { sm, apply } = machine();
        const model = new Map<string, ModelRecord>();
        const grantsSinceReset = new Map<string, number>();
        const everLocked = new Set<string>();
        for (const cmd of cmds) {
          const c = toCommand(cmd);
          const valid = c instanceof Uint8Array ? decoded(c) : c;
          const before = sm.snapshot();
          const result = apply(c);
          if (!valid) {
            expect(decodePlainResult(result).status).toBe('invalid');
            expect(sm.snapshot()).toEqual(before);
            continue;
          }
          const expected = modelApply(model, valid);
          if (valid.op === 'attempt') {
            const r = decodeAttemptResult(result);
            expect(r.status).toBe(expected.status);
            if (r.status === 'ok') {
              expect(r.attempts).toBe(expected.payload);
              const g = (grantsSinceReset.get(valid.userId) ?? 0) + 1;
              grantsSinceReset.set(valid.userId, g);
              expect(g).toBeLessThanOrEqual(r.guessLimit);
            }
          } else if (valid.op === 'reset-attempts') {
            const r = decodeResetResult(result);
            expect(r.status).toBe(expected.status);
            if (r.status === 'ok') {
              expect(r.sealedBackupKey).toEqual(
                expected.payload === null ? null : SEALED[expected.payload as number],
              );
              grantsSinceReset.set(valid.userId, 0);
            }
          } else {
            expect(decodePlainResult(result).status).toBe(expected.status);
            if (expected.status === 'ok' && valid.op !== 'set-backup-key')
              grantsSinceReset.set(valid.userId, 0);
          }
          for (const u of USERS) {
            const got = sm.get(u);
            const want = model.get(u);
            expect(got === undefined).toBe(want === undefined);
            if (got && want) {
              expect(got).toMatchObject({
                attempts: want.attempts,
                guessLimit: want.guessLimit,
                locked: want.locked,
              });
              expect(got.attempts).toBeLessThanOrEqual(got.guessLimit);
              expect(got.sealedBackupKey).toEqual(want.sealed === null ? null : SEALED[want.sealed]);
              if (everLocked.has(u)) expect(got.locked).toBe(true);
              if (got.locked) everLocked.add(u);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot then restore gives an equal machine that answers every later command the same', () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { maxLength: 40 }),
        fc.array(commandArb, { maxLength: 20 }),
        (before, after) => {
          const a = machine();
          for (const c of before) a.apply(toCommand(c));
          const snap = a.sm.snapshot();
          const b = machine(before.length);
          b.sm.restore(snap);
          expect(b.sm.snapshot()).toEqual(snap);
          for (const c of after) {
            const cmd = toCommand(c);
            expect(b.apply(cmd)).toEqual(a.apply(cmd));
          }
          expect(b.sm.snapshot()).toEqual(a.sm.snapshot());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('escrow snapshots', () => {
  it('encoded in slices: the bytes snapshot() gave at the call, whatever is applied meanwhile', async () => {
    const { sm, apply } = machine();
    // More records than one slice (2048), in an order that is not the id order.
    for (let i = 2999; i >= 0; i--) apply(register(`user-${i}`, 3, i % 2));
    apply({ op: 'set-backup-key', userId: 'user-7', recordDigest: DIGESTS[1]!, sealedBackupKey: SEALED[1]! });
    apply({ op: 'attempt', userId: 'user-8' });
    const expected = sm.snapshot();
    const pending = sm.snapshotInSlices();
    apply({ op: 'attempt', userId: 'user-9' });
    apply(register('zed', 1));
    apply({ op: 'delete', userId: 'user-7', recordDigest: DIGESTS[1]! });
    const sliced = await pending;
    expect(sliced).toEqual(expected);
    expect(sliced).not.toEqual(sm.snapshot());
    const copy = machine();
    copy.sm.restore(sliced);
    expect(copy.sm.get('user-7')?.sealedBackupKey).toEqual(SEALED[1]);
    expect(copy.sm.get('zed')).toBeUndefined();
  });

  it('refuse every corruption and leave the state as it was', () => {
    const { sm, apply } = machine();
    apply(register('alice', 3));
    apply({ op: 'set-backup-key', userId: 'alice', recordDigest: DIGESTS[0]!, sealedBackupKey: SEALED[0]! });
    apply(register('bob', 2, 1));
    apply({ op: 'attempt', userId: 'bob' });
    const snap = sm.snapshot();
    const target = machine();
    target.apply(register('carol', 1));
    const targetBefore = target.sm.snapshot();
    for (let i = 0; i < snap.length; i++) {
      const bad = snap.slice();
      bad[i]! ^= 0x01;
      expect(() => target.sm.restore(bad), `byte ${i}`).toThrow();
      expect(target.sm.snapshot()).toEqual(targetBefore);
    }
    for (const n of [0, 10, snap.length - 1]) expect(() => target.sm.restore(snap.subarray(0, n))).toThrow();
    target.sm.restore(snap);
    expect(target.sm.snapshot()).toEqual(snap);
    expect(target.sm.get('carol')).toBeUndefined();
  });

  it('command size is bounded', () => {
    const { apply } = machine();
    expect(decodePlainResult(apply(new Uint8Array(MAX_COMMAND_BYTES + 1))).status).toBe('invalid');
    expect(() => decodeCommand(new Uint8Array(MAX_COMMAND_BYTES + 1))).toThrow(/exceeds/);
    expect(() => encodeCommand({ op: 'attempt', userId: 'not valid!' })).toThrow(/user id/);
  });
});
