// Byte-level encoding shared by the on-disk log and the wire codec. Little-endian, explicit
// lengths, and a reader that checks every length against what is actually left before using it.

import type { Entry, EntryType, MemberId, Membership, SnapshotMetadata } from '../types.ts';

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const TWO_32 = 2 ** 32;
const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/** Member ids: DNS-label-like, as Kubernetes names them; anything else is refused on decode. */
export const MEMBER_ID_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
export const MAX_MEMBERS = 64;

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  get length(): number {
    return this.pos;
  }

  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }

  /** Non-negative safe integers only (indices, terms, counters). */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 out of range: ${v}`);
    this.reserve(8);
    this.view.setUint32(this.pos, v % TWO_32, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / TWO_32), true);
    this.pos += 8;
    return this;
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** u32 length prefix, then the bytes. */
  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  /** u16 length prefix, then UTF-8. */
  string(s: string): this {
    const b = UTF8.encode(s);
    if (b.length > 0xffff) throw new RangeError('string too long');
    return this.u16(b.length).raw(b);
  }

  /** Overwrites a u32 written earlier (e.g. a length known only afterwards). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export class ByteReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  pos = 0;

  constructor(buf: Uint8Array) {
    // A plain view even when handed a Buffer, so the slices we return are plain Uint8Array copies.
    this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining)
      throw new DecodeError(`truncated ${what}: need ${n} bytes, ${this.remaining} left`);
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi > 0x1fffff) throw new DecodeError(`${what} exceeds 2^53-1`);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  raw(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** u32 length prefix (checked against `max` and against what is left), then a copy of the bytes. */
  bytes(max: number, what = 'bytes'): Uint8Array {
    const n = this.u32(`${what} length`);
    if (n > max) throw new DecodeError(`${what} of ${n} bytes exceeds limit ${max}`);
    return this.raw(n, what).slice();
  }

  string(max: number, what = 'string'): string {
    const n = this.u16(`${what} length`);
    if (n > max) throw new DecodeError(`${what} of ${n} bytes exceeds limit ${max}`);
    try {
      return UTF8_STRICT.decode(this.raw(n, what));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }

  memberId(what = 'member id'): MemberId {
    const id = this.string(63, what);
    if (!MEMBER_ID_PATTERN.test(id))
      throw new DecodeError(`${what} ${JSON.stringify(id)} is not a valid member id`);
    return id;
  }

  /** A u32 count, bounded by `max` and by the bytes left divided by the smallest item size. */
  count(max: number, minItemBytes: number, what: string): number {
    const n = this.u32(`${what} count`);
    if (n > max) throw new DecodeError(`${what} count ${n} exceeds limit ${max}`);
    if (n * minItemBytes > this.remaining) throw new DecodeError(`${what} count ${n} exceeds the bytes left`);
    return n;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`);
  }
}

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change', 'noop'];
/** type(1) + term(8) + index(8) + data length(4). */
export const ENTRY_MIN_BYTES = 21;

export function writeEntry(w: ByteWriter, e: Entry): void {
  w.u8(ENTRY_TYPES.indexOf(e.type)).u64(e.term).u64(e.index).bytes(e.data);
}

export function readEntry(r: ByteReader, maxData: number): Entry {
  const t = r.u8('entry type');
  const type = ENTRY_TYPES[t];
  if (type === undefined) throw new DecodeError(`unknown entry type ${t}`);
  const term = r.u64('entry term');
  const index = r.u64('entry index');
  if (index === 0) throw new DecodeError('entry index 0');
  const data = r.bytes(maxData, 'entry data');
  return { term, index, type, data };
}

export function writeMembership(w: ByteWriter, m: Membership): void {
  w.u16(m.voters.length);
  for (const v of m.voters) w.string(v);
  w.u16(m.learners.length);
  for (const l of m.learners) w.string(l);
}

export function readMembership(r: ByteReader): Membership {
  const list = (what: string): MemberId[] => {
    const n = r.u16(`${what} count`);
    if (n > MAX_MEMBERS) throw new DecodeError(`${what} count ${n} exceeds ${MAX_MEMBERS}`);
    const out: MemberId[] = [];
    for (let i = 0; i < n; i++) out.push(r.memberId(what));
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
