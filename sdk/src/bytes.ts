// The byte reader and writer behind every keyfleet binary format (HSM certificates, requests, slot
// attestations, escrow commands, the Raft log, snapshots and wire envelopes). Integers are
// little-endian; every variable-length field carries an explicit length prefix whose width is in the
// method's name (bytes8/16/32, string8/16); readers check every length against a limit and against
// the bytes actually left before using it, and `end()` refuses trailing bytes, so each value has
// exactly one encoding.

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const TWO_32 = 2 ** 32;
const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  /** `initial` is a size hint; callers that know the final size pass it to avoid regrowing. */
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

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`u8 out of range: ${v}`);
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`u16 out of range: ${v}`);
    this.reserve(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v >= TWO_32) throw new RangeError(`u32 out of range: ${v}`);
    this.reserve(4);
    this.view.setUint32(this.pos, v, true);
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

  /** u8 length prefix, then the bytes. */
  bytes8(b: Uint8Array): this {
    return this.u8(b.length).raw(b);
  }

  /** u16 length prefix, then the bytes. */
  bytes16(b: Uint8Array): this {
    return this.u16(b.length).raw(b);
  }

  /** u32 length prefix, then the bytes. */
  bytes32(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  /** u8 length prefix, then UTF-8. */
  string8(s: string): this {
    return this.bytes8(UTF8.encode(s));
  }

  /** u16 length prefix, then UTF-8. */
  string16(s: string): this {
    return this.bytes16(UTF8.encode(s));
  }

  /**
   * The bytes written, without a copy (snapshots run to hundreds of MiB). Nothing rewrites them:
   * later writes land after them or in a new buffer.
   */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export class ByteReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(buf: Uint8Array) {
    // A plain view even when handed a Buffer (whose slice() aliases), so `raw()` really copies.
    this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining)
      throw new DecodeError(`truncated ${what}: need ${n} bytes, ${this.remaining} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi > 0x1fffff) throw new DecodeError(`${what} exceeds 2^53-1`);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /** Exactly `n` bytes, copied (the result never aliases the input). */
  raw(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** `n` was read from a length prefix: check it against the limits before reading that many. */
  private sized(n: number, min: number, max: number, what: string): Uint8Array {
    if (n > max) throw new DecodeError(`${what} of ${n} bytes exceeds limit ${max}`);
    if (n < min) throw new DecodeError(`${what} has ${n} bytes, expected at least ${min}`);
    return this.raw(n, what);
  }

  bytes8(what: string, max = 0xff, min = 0): Uint8Array {
    return this.sized(this.u8(`${what} length`), min, max, what);
  }

  bytes16(what: string, max = 0xffff, min = 0): Uint8Array {
    return this.sized(this.u16(`${what} length`), min, max, what);
  }

  bytes32(what: string, max: number, min = 0): Uint8Array {
    return this.sized(this.u32(`${what} length`), min, max, what);
  }

  private utf8(raw: Uint8Array, what: string): string {
    try {
      return UTF8_STRICT.decode(raw);
    } catch {
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }

  /** u8 length prefix, then UTF-8 that must match `pattern`. */
  string8(what: string, pattern: RegExp): string {
    const s = this.utf8(this.bytes8(what), what);
    if (!pattern.test(s)) throw new DecodeError(`${what} ${JSON.stringify(s)} does not match ${pattern}`);
    return s;
  }

  /** u16 length prefix (at most `max` bytes), then UTF-8. */
  string16(what: string, max: number): string {
    return this.utf8(this.bytes16(what, max), what);
  }

  /** A u32 count, bounded by `max` and by the bytes left divided by the smallest item size. */
  count(what: string, max: number, minItemBytes: number): number {
    const n = this.u32(`${what} count`);
    if (n > max) throw new DecodeError(`${what} count ${n} exceeds limit ${max}`);
    if (n * minItemBytes > this.remaining) throw new DecodeError(`${what} count ${n} exceeds the bytes left`);
    return n;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`);
  }
}
