// Byte helpers around keyfleet's HSM and backup formats: UTF-8, concatenation, constant-time
// equality, hex and strict base64url. The length-prefixed reader and writer the formats themselves
// are built with live in ../bytes.ts.

import { equalBytes } from '@noble/curves/utils.js';

const UTF8 = new TextEncoder();

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
