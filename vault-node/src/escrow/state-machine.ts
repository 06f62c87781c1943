// The escrow replicated state machine: per user id, the OPAQUE registration, the backup key sealed
// to the fleet, and the guess counter. Applied identically on every member in log order: apply
// reads nothing but its state and the entry (no clock, no randomness, no I/O), never throws on
// bad input (a malformed command is answered `invalid` and changes nothing), so all members hold
// the same state at the same index.
//
// Guess counting: `attempt` increments the counter and grants the evaluation only while
// attempts < guessLimit; the first attempt that finds the counter at the limit locks the record,
// and a locked record refuses every operation, forever. `reset-attempts` (after a successful
// login) sets the counter back to 0 and returns the sealed backup key from committed state.
// Every granted attempt is also reported to `onAttemptGranted` (the member's HSM, which evaluates
// the OPRF only for an attempt reported this way, once: hsm/attempt-ledger.ts); the result carries
// the entry's index and term so the proposer can name it.

import {
  CREDENTIAL_NONCE_BYTES,
  OPAQUE_SIZES,
  recordDigest,
  USER_ID_PATTERN,
} from '@keyfleet/sdk/backup/crypto';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import { concatBytes, ctEqual } from '@keyfleet/sdk/hsm/bytes';
import { sha256 } from '@noble/hashes/sha2.js';
import type { CommittedAttempt } from '../hsm/attempt-ledger.ts';
import { SEALED_BACKUP_KEY_BYTES } from '../hsm/opaque-engine.ts';
import { inSlices, nextTurn } from '../raft/slices.ts';
import type { Entry, StateMachine } from '../raft/types.ts';
import { decodeCommand, type EscrowCommand, encodeResult, MAX_GUESS_LIMIT } from './commands.ts';

export interface EscrowRecord {
  readonly registrationRecord: Uint8Array;
  readonly credentialNonce: Uint8Array;
  readonly sealedBackupKey: Uint8Array | null;
  readonly attempts: number;
  readonly guessLimit: number;
  readonly locked: boolean;
}

interface Held extends EscrowRecord {
  /** recordDigest(credentialNonce, registrationRecord), derived once. */
  readonly digest: Uint8Array;
}

const SNAPSHOT_MAGIC = new TextEncoder().encode('KFES');
const SNAPSHOT_VERSION = 1;
const RECORD_MIN_BYTES = 1 + 1 + 1 + 1 + 1 + CREDENTIAL_NONCE_BYTES + 2 + OPAQUE_SIZES.registrationRecord + 1;

function held(r: EscrowRecord): Held {
  return { ...r, digest: recordDigest(r.credentialNonce, r.registrationRecord) };
}

export interface EscrowStateMachineOptions {
  /** Called for each attempt granted, as it is applied (it must not throw). */
  readonly onAttemptGranted?: (attempt: CommittedAttempt) => void;
}

export class EscrowStateMachine implements StateMachine {
  #records = new Map<string, Held>();
  readonly #onAttemptGranted: ((attempt: CommittedAttempt) => void) | undefined;

  constructor(o: EscrowStateMachineOptions = {}) {
    this.#onAttemptGranted = o.onAttemptGranted;
  }

  /** Number of records (for metrics). */
  get size(): number {
    return this.#records.size;
  }

  /** A committed record as this member last applied it: for tests and metrics, never for decisions. */
  get(userId: string): EscrowRecord | undefined {
    const h = this.#records.get(userId);
    if (!h) return undefined;
    return {
      registrationRecord: h.registrationRecord.slice(),
      credentialNonce: h.credentialNonce.slice(),
      sealedBackupKey: h.sealedBackupKey?.slice() ?? null,
      attempts: h.attempts,
      guessLimit: h.guessLimit,
      locked: h.locked,
    };
  }

  apply(entry: Entry): Uint8Array {
    if (entry.type !== 'normal') return new Uint8Array();
    let c: EscrowCommand;
    try {
      c = decodeCommand(entry.data);
    } catch {
      return encodeResult('invalid');
    }
    return this.#apply(c, entry);
  }

  #apply(c: EscrowCommand, entry: Entry): Uint8Array {
    const r = this.#records.get(c.userId);
    if (c.op === 'register' && c.replace === null) {
      if (r) return encodeResult('exists');
      this.#records.set(c.userId, held({ ...fresh(c), locked: false }));
      return encodeResult('ok');
    }
    if (!r) return encodeResult('not-found');
    if (r.locked) return encodeResult('locked');
    switch (c.op) {
      case 'attempt':
        if (r.attempts >= r.guessLimit) {
          this.#records.set(c.userId, { ...r, locked: true });
          return encodeResult('locked');
        }
        this.#records.set(c.userId, { ...r, attempts: r.attempts + 1 });
        this.#onAttemptGranted?.({
          index: entry.index,
          term: entry.term,
          userId: c.userId,
          recordDigest: r.digest,
        });
        return encodeResult('ok', (w) =>
          w
            .u8(r.attempts + 1)
            .u8(r.guessLimit)
            .raw(r.credentialNonce)
            .bytes16(r.registrationRecord)
            .u64(entry.index)
            .u64(entry.term),
        );
      case 'register':
        if (!ctEqual(c.replace!.digest, r.digest)) return encodeResult('stale');
        this.#records.set(
          c.userId,
          held({ ...fresh(c), sealedBackupKey: c.replace!.sealedBackupKey, locked: false }),
        );
        return encodeResult('ok');
      case 'set-backup-key':
        if (!ctEqual(c.recordDigest, r.digest)) return encodeResult('stale');
        this.#records.set(c.userId, { ...r, sealedBackupKey: c.sealedBackupKey });
        return encodeResult('ok');
      case 'reset-attempts':
        if (!ctEqual(c.recordDigest, r.digest)) return encodeResult('stale');
        this.#records.set(c.userId, { ...r, attempts: 0 });
        return encodeResult('ok', (w) => {
          if (r.sealedBackupKey) w.u8(1).raw(r.sealedBackupKey);
          else w.u8(0);
        });
      case 'delete':
        if (!ctEqual(c.recordDigest, r.digest)) return encodeResult('stale');
        this.#records.delete(c.userId);
        return encodeResult('ok');
    }
  }

  /**
   * "KFES" | u8 version | u32 count | records in user id order | SHA-256 of all preceding bytes.
   * record = str8 user id | u8 guess limit | u8 attempts | u8 locked | nonce (16)
   *          | bytes16 registration record | u8 has key | [sealed backup key (72)]
   */
  snapshot(): Uint8Array {
    const ids = [...this.#records.keys()].sort();
    const w = new ByteWriter(64 + ids.length * 320).raw(snapshotHeader(ids.length));
    for (const id of ids) writeRecord(w, id, this.#records.get(id)!);
    const body = w.finish();
    return new ByteWriter(body.length + 32).raw(body).raw(sha256(body)).finish();
  }

  /**
   * The same bytes as snapshot() now, encoded in slices (RaftNode goes on meanwhile). Records are
   * replaced, never changed in place, so a copy of the map taken here is the state as of this call.
   */
  async snapshotInSlices(): Promise<Uint8Array> {
    const records = new Map(this.#records);
    const hash = sha256.create();
    const parts: Uint8Array[] = [];
    const add = (part: Uint8Array) => {
      hash.update(part);
      parts.push(part);
    };
    await nextTurn(); // the copy is all this call does at once; sorting comes after
    const ids = [...records.keys()].sort();
    add(snapshotHeader(ids.length));
    for await (const slice of inSlices(ids)) {
      const w = new ByteWriter(slice.length * 320);
      for (const id of slice) writeRecord(w, id, records.get(id)!);
      add(w.finish());
    }
    parts.push(hash.digest());
    return concatBytes(...parts);
  }

  /** Replaces the state with a snapshot's; on any defect throws and leaves the state as it was. */
  restore(data: Uint8Array): void {
    if (data.length < SNAPSHOT_MAGIC.length + 5 + 32) throw new DecodeError('escrow snapshot is truncated');
    const body = data.subarray(0, data.length - 32);
    if (!ctEqual(sha256(body), data.subarray(data.length - 32))) {
      throw new DecodeError('escrow snapshot checksum mismatch');
    }
    const r = new ByteReader(body);
    const magic = r.raw(SNAPSHOT_MAGIC.length, 'magic');
    if (!ctEqual(magic, SNAPSHOT_MAGIC)) throw new DecodeError('not an escrow snapshot');
    const version = r.u8('version');
    if (version !== SNAPSHOT_VERSION) throw new DecodeError(`unsupported escrow snapshot version ${version}`);
    const count = r.u32('record count');
    if (count * RECORD_MIN_BYTES > r.remaining) throw new DecodeError('record count exceeds the snapshot');
    const records = new Map<string, Held>();
    let previous = '';
    for (let i = 0; i < count; i++) {
      const id = r.string8('user id', USER_ID_PATTERN);
      if (i > 0 && !(id > previous)) throw new DecodeError('user ids are not in strictly ascending order');
      previous = id;
      const guessLimit = r.u8('guess limit');
      const attempts = r.u8('attempts');
      const locked = r.u8('locked');
      if (guessLimit < 1 || guessLimit > MAX_GUESS_LIMIT)
        throw new DecodeError(`record ${id}: bad guess limit`);
      if (attempts > guessLimit) throw new DecodeError(`record ${id}: attempts exceed the guess limit`);
      if (locked > 1) throw new DecodeError(`record ${id}: locked must be 0 or 1`);
      const credentialNonce = r.raw(CREDENTIAL_NONCE_BYTES, 'credential nonce');
      const n = OPAQUE_SIZES.registrationRecord;
      const registrationRecord = r.bytes16('registration record', n, n);
      const hasKey = r.u8('has key');
      if (hasKey > 1) throw new DecodeError(`record ${id}: has key must be 0 or 1`);
      const sealedBackupKey = hasKey ? r.raw(SEALED_BACKUP_KEY_BYTES, 'sealed backup key') : null;
      records.set(
        id,
        held({
          registrationRecord,
          credentialNonce,
          sealedBackupKey,
          attempts,
          guessLimit,
          locked: locked === 1,
        }),
      );
    }
    r.end('escrow snapshot');
    this.#records = records;
  }
}

function fresh(c: Extract<EscrowCommand, { op: 'register' }>): Omit<EscrowRecord, 'locked'> {
  return {
    registrationRecord: c.registrationRecord,
    credentialNonce: c.credentialNonce,
    sealedBackupKey: null,
    attempts: 0,
    guessLimit: c.guessLimit,
  };
}

function snapshotHeader(count: number): Uint8Array {
  return new ByteWriter(16).raw(SNAPSHOT_MAGIC).u8(SNAPSHOT_VERSION).u32(count).finish();
}

function writeRecord(w: ByteWriter, id: string, r: EscrowRecord): void {
  w.string8(id)
    .u8(r.guessLimit)
    .u8(r.attempts)
    .u8(r.locked ? 1 : 0);
  w.raw(r.credentialNonce).bytes16(r.registrationRecord);
  if (r.sealedBackupKey) w.u8(1).raw(r.sealedBackupKey);
  else w.u8(0);
}
