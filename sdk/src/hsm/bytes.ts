// Byte helpers for keyfleet's small canonical binary formats (certificates, requests, slot
// attestations, escrow commands). Integers are little-endian like the rest of the project's binary
// formats; every variable-length field carries an explicit length prefix; readers check every
// length against a limit and against the bytes actually left, and `end()` refuses trailing bytes,
// so each value has exactly one encoding.

import { equalBytes } from '@noble/curves/utils.js';

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const TWO_32 = 2 ** 32;
const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return UTF8.encode(s);
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Equality in time independent of the contents. The lengths are not secret (every caller compares
 * values of a fixed, public size), so a length mismatch returns false at once.
 */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  return equalBytes(a, b);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function base64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/**
 * Strict base64url (RFC 4648 §5, no padding): Node's decoder skips characters it does not know, so
 * the alphabet is checked first and the result re-encoded, which also refuses non-zero trailing
 * bits. Returns null rather than a guess.
 */
export function fromBase64url(s: string): Uint8Array | null {
  if (!BASE64URL.test(s) || s.length % 4 === 1) return null;
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) return null;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

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

  /** Non-negative safe integers only. */
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

  /** u8 length prefix, then UTF-8 (the identifiers written here are ASCII). */
  string8(s: string): this {
    return this.bytes8(UTF8.encode(s));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

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

  private sized(n: number, min: number, max: number, what: string): Uint8Array {
    if (n < min || n > max) throw new DecodeError(`${what} has ${n} bytes, expected ${min}..${max}`);
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

  /** u8 length prefix, then UTF-8 that must match `pattern`. */
  string8(what: string, pattern: RegExp): string {
    const raw = this.bytes8(what);
    let s: string;
    try {
      s = UTF8_STRICT.decode(raw);
    } catch {
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
    if (!pattern.test(s)) throw new DecodeError(`${what} ${JSON.stringify(s)} does not match ${pattern}`);
    return s;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`);
  }
}
