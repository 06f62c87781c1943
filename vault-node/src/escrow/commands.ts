// The escrow state machine's commands (the data of Raft log entries) and results (what apply
// returns to the proposer). Binary, one encoding per value, size-limited, decoded strictly:
//
//   command = u8 version (1) | u8 op | str8 user id | fields of the op
//     1 register        u8 guess limit (1..255) | u8 mode (0 create, 1 replace)
//                       | [replace: replaced record digest (32) | sealed backup key (72)]
//                       | credential nonce (16) | bytes16 record (192)
//     2 set-backup-key  record digest (32) | sealed backup key (72)
//     3 attempt         (nothing)
//     4 reset-attempts  record digest (32)
//     5 delete          record digest (32)
//
//   result  = u8 status (0 ok, 1 not-found, 2 exists, 3 stale, 4 locked, 5 invalid) | ok payload
//     attempt ok        u8 attempts | u8 guess limit | credential nonce (16) | bytes16 record
//                       | u64 index | u64 term (of the attempt entry: the HSM's proof that it was
//                       committed, hsm/attempt-ledger.ts)
//     reset ok          u8 has key (0/1) | [sealed backup key (72)]
//
// "record digest" names the registration an operation was authorised for (recordDigest in
// sdk/src/backup/crypto.ts); the state machine refuses the operation (stale) when the user's
// current registration is another one.

import { CREDENTIAL_NONCE_BYTES, OPAQUE_SIZES, USER_ID_PATTERN } from '@keyfleet/sdk/backup/crypto';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import type { AttemptProof } from '../hsm/attempt-ledger.ts';
import { SEALED_BACKUP_KEY_BYTES } from '../hsm/opaque-engine.ts';

const VERSION = 1;
export const DIGEST_BYTES = 32;
/** Every valid command is shorter; anything longer is refused before decoding. */
export const MAX_COMMAND_BYTES = 512;
export const MAX_GUESS_LIMIT = 255;

export type EscrowCommand =
  | {
      readonly op: 'register';
      readonly userId: string;
      readonly guessLimit: number;
      /**
       * null: create (the user must not exist, no key yet). Else the digest of the registration it
       * replaces, and the backup key sealed for the new registration.
       */
      readonly replace: { readonly digest: Uint8Array; readonly sealedBackupKey: Uint8Array } | null;
      readonly credentialNonce: Uint8Array;
      readonly registrationRecord: Uint8Array;
    }
  | {
      readonly op: 'set-backup-key';
      readonly userId: string;
      readonly recordDigest: Uint8Array;
      readonly sealedBackupKey: Uint8Array;
    }
  | { readonly op: 'attempt'; readonly userId: string }
  | { readonly op: 'reset-attempts'; readonly userId: string; readonly recordDigest: Uint8Array }
  | { readonly op: 'delete'; readonly userId: string; readonly recordDigest: Uint8Array };

export type EscrowOp = EscrowCommand['op'];
const OPS: readonly EscrowOp[] = ['register', 'set-backup-key', 'attempt', 'reset-attempts', 'delete'];

export type Status = 'ok' | 'not-found' | 'exists' | 'stale' | 'locked' | 'invalid';
const STATUSES: readonly Status[] = ['ok', 'not-found', 'exists', 'stale', 'locked', 'invalid'];
export type Refusal = Exclude<Status, 'ok'>;

export interface AttemptGranted {
  readonly status: 'ok';
  /** The committed count, including this attempt. */
  readonly attempts: number;
  readonly guessLimit: number;
  readonly credentialNonce: Uint8Array;
  readonly registrationRecord: Uint8Array;
  /** Where the attempt entry sits in the log: what the HSM asks for before it evaluates. */
  readonly attempt: AttemptProof;
}

export type AttemptResult = AttemptGranted | { readonly status: Refusal };
export type ResetResult =
  | { readonly status: 'ok'; readonly sealedBackupKey: Uint8Array | null }
  | { readonly status: Refusal };
export type PlainResult = { readonly status: Status };

export function encodeCommand(c: EscrowCommand): Uint8Array {
  const w = new ByteWriter(320)
    .u8(VERSION)
    .u8(OPS.indexOf(c.op) + 1)
    .string8(c.userId);
  switch (c.op) {
    case 'register':
      w.u8(c.guessLimit);
      if (c.replace) w.u8(1).raw(c.replace.digest).raw(c.replace.sealedBackupKey);
      else w.u8(0);
      w.raw(c.credentialNonce).bytes16(c.registrationRecord);
      break;
    case 'set-backup-key':
      w.raw(c.recordDigest).raw(c.sealedBackupKey);
      break;
    case 'attempt':
      break;
    case 'reset-attempts':
    case 'delete':
      w.raw(c.recordDigest);
      break;
  }
  const bytes = w.finish();
  // Encoding what the decoder would refuse is a bug in the caller: fail loudly, here.
  decodeCommand(bytes);
  return bytes;
}

/** Decodes and validates a command; throws DecodeError saying what is wrong. */
export function decodeCommand(bytes: Uint8Array): EscrowCommand {
  if (bytes.length > MAX_COMMAND_BYTES)
    throw new DecodeError(`command of ${bytes.length} bytes exceeds ${MAX_COMMAND_BYTES}`);
  const r = new ByteReader(bytes);
  const version = r.u8('version');
  if (version !== VERSION) throw new DecodeError(`unsupported command version ${version}`);
  const op = OPS[r.u8('op') - 1];
  if (!op) throw new DecodeError('unknown op');
  const userId = r.string8('user id', USER_ID_PATTERN);
  let c: EscrowCommand;
  switch (op) {
    case 'register': {
      const guessLimit = r.u8('guess limit');
      if (guessLimit < 1) throw new DecodeError('guess limit must be 1..255');
      const mode = r.u8('mode');
      if (mode > 1) throw new DecodeError(`unknown register mode ${mode}`);
      const replace =
        mode === 1
          ? {
              digest: r.raw(DIGEST_BYTES, 'replaced digest'),
              sealedBackupKey: r.raw(SEALED_BACKUP_KEY_BYTES, 'sealed backup key'),
            }
          : null;
      const credentialNonce = r.raw(CREDENTIAL_NONCE_BYTES, 'credential nonce');
      const n = OPAQUE_SIZES.registrationRecord;
      const registrationRecord = r.bytes16('registration record', n, n);
      c = { op, userId, guessLimit, replace, credentialNonce, registrationRecord };
      break;
    }
    case 'set-backup-key':
      c = {
        op,
        userId,
        recordDigest: r.raw(DIGEST_BYTES, 'record digest'),
        sealedBackupKey: r.raw(SEALED_BACKUP_KEY_BYTES, 'sealed backup key'),
      };
      break;
    case 'attempt':
      c = { op, userId };
      break;
    case 'reset-attempts':
    case 'delete':
      c = { op, userId, recordDigest: r.raw(DIGEST_BYTES, 'record digest') };
      break;
  }
  r.end('command');
  return c;
}

export function encodeResult(status: Status, payload?: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(256).u8(STATUSES.indexOf(status));
  payload?.(w);
  return w.finish();
}

function readStatus(r: ByteReader): Status {
  const s = STATUSES[r.u8('status')];
  if (!s) throw new DecodeError('unknown result status');
  return s;
}

export function decodeAttemptResult(bytes: Uint8Array): AttemptResult {
  const r = new ByteReader(bytes);
  const status = readStatus(r);
  if (status !== 'ok') {
    r.end('result');
    return { status };
  }
  const attempts = r.u8('attempts');
  const guessLimit = r.u8('guess limit');
  const credentialNonce = r.raw(CREDENTIAL_NONCE_BYTES, 'credential nonce');
  const n = OPAQUE_SIZES.registrationRecord;
  const registrationRecord = r.bytes16('registration record', n, n);
  const index = r.u64('attempt index');
  const term = r.u64('attempt term');
  r.end('result');
  return { status, attempts, guessLimit, credentialNonce, registrationRecord, attempt: { index, term } };
}

export function decodeResetResult(bytes: Uint8Array): ResetResult {
  const r = new ByteReader(bytes);
  const status = readStatus(r);
  if (status !== 'ok') {
    r.end('result');
    return { status };
  }
  const hasKey = r.u8('has key');
  if (hasKey > 1) throw new DecodeError('has key must be 0 or 1');
  const sealedBackupKey = hasKey ? r.raw(SEALED_BACKUP_KEY_BYTES, 'sealed backup key') : null;
  r.end('result');
  return { status, sealedBackupKey };
}

export function decodePlainResult(bytes: Uint8Array): PlainResult {
  const r = new ByteReader(bytes);
  const status = readStatus(r);
  r.end('result');
  return { status };
}
