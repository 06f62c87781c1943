// Raft records built on the shared little-endian reader/writer (@keyfleet/sdk/bytes): entries,
// membership and snapshot metadata, used by both the on-disk log and the wire codec.

import { type ByteReader, type ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import type { Entry, EntryType, MemberId, Membership, SnapshotMetadata } from '../types.ts';

/** Member ids: DNS-label-like, as Kubernetes names them; anything else is refused on decode. */
export const MEMBER_ID_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
export const MAX_MEMBERS = 64;

/** Member ids are written with `ByteWriter.string16`; this reads one back and checks it. */
export function readMemberId(r: ByteReader, what: string): MemberId {
  const id = r.string16(what, 63);
  if (!MEMBER_ID_PATTERN.test(id))
    throw new DecodeError(`${what} ${JSON.stringify(id)} is not a valid member id`);
  return id;
}

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change', 'noop'];
/** type(1) + term(8) + index(8) + data length(4). */
export const ENTRY_MIN_BYTES = 21;

export function writeEntry(w: ByteWriter, e: Entry): void {
  w.u8(ENTRY_TYPES.indexOf(e.type)).u64(e.term).u64(e.index).bytes32(e.data);
}

export function readEntry(r: ByteReader, maxData: number): Entry {
  const t = r.u8('entry type');
  const type = ENTRY_TYPES[t];
  if (type === undefined) throw new DecodeError(`unknown entry type ${t}`);
  const term = r.u64('entry term');
  const index = r.u64('entry index');
  if (index === 0) throw new DecodeError('entry index 0');
  const data = r.bytes32('entry data', maxData);
  return { term, index, type, data };
}

export function writeMembership(w: ByteWriter, m: Membership): void {
  w.u16(m.voters.length);
  for (const v of m.voters) w.string16(v);
  w.u16(m.learners.length);
  for (const l of m.learners) w.string16(l);
}

export function readMembership(r: ByteReader): Membership {
  const list = (what: string): MemberId[] => {
    const n = r.u16(`${what} count`);
    if (n > MAX_MEMBERS) throw new DecodeError(`${what} count ${n} exceeds ${MAX_MEMBERS}`);
    const out: MemberId[] = [];
    for (let i = 0; i < n; i++) out.push(readMemberId(r, what));
    return out;
  };
  return { voters: list('voter'), learners: list('learner') };
}

export function writeSnapshotMetadata(w: ByteWriter, m: SnapshotMetadata): void {
  w.u64(m.index).u64(m.term);
  writeMembership(w, m.membership);
}

export function readSnapshotMetadata(r: ByteReader): SnapshotMetadata {
  const index = r.u64('snapshot index');
  const term = r.u64('snapshot term');
  return { index, term, membership: readMembership(r) };
}
