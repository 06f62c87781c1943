// Row <-> record mapping shared by the SQL backends. Drivers differ in how they return
// integers (number or, for BIGINT, string) and bytes (Uint8Array or Buffer); these helpers
// accept both and always hand out plain Uint8Arrays.
import { sha256 } from '@noble/hashes/sha2.js';
import { labelFromBytes } from '../tree/label.ts';
import type { EpochHead, EpochRecord, ValueState } from './types.ts';

export type Row = Record<string, unknown>;

export function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Error('corrupt record: expected bytes');
  return Object.getPrototypeOf(v) === Uint8Array.prototype ? v : new Uint8Array(v);
}

export function int(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw new Error('corrupt record: expected an integer');
  return n;
}

/** The columns of an epoch head (every column of the epochs table but audit_blob). */
export const EPOCH_HEAD_COLUMNS = 'epoch, root, previous_root, timestamp, head, signature, updates';

export function epochHeadFromRow(r: Row): EpochHead {
  return {
    epoch: int(r.epoch),
    rootHash: bytes(r.root),
    previousRootHash: bytes(r.previous_root),
    timestamp: int(r.timestamp),
    head: bytes(r.head),
    signature: bytes(r.signature),
    updates: int(r.updates),
  };
}

export function epochFromRow(r: Row): EpochRecord {
  return { ...epochHeadFromRow(r), auditBlob: bytes(r.audit_blob) };
}

export function valueStateFromRow(r: Row): ValueState {
  return {
    username: bytes(r.username),
    version: int(r.version),
    epoch: int(r.epoch),
    label: labelFromBytes(bytes(r.label)),
    value: bytes(r.value),
  };
}

/** What a request id is bound to: SHA-256(u32(len(username)) || username || value). */
export function changeDigest(username: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + username.length + value.length);
  new DataView(out.buffer).setUint32(0, username.length);
  out.set(username, 4);
  out.set(value, 4 + username.length);
  return sha256(out);
}
