// Strict readers for decoded JSON: exact key sets, typed values, patterns and bounds. Every
// failure is an AttestationError naming the field, so a decoder never throws anything else.
import { fromBase64url } from '../hsm/bytes.ts';
import { AttestationError } from './errors.ts';

export type Obj = Readonly<Record<string, unknown>>;

export function object(
  value: unknown,
  field: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AttestationError(field, 'must be a JSON object');
  }
  for (const k of Object.keys(value)) {
    if (!required.includes(k) && !optional.includes(k)) {
      throw new AttestationError(field, `unknown field ${JSON.stringify(k.slice(0, 64))}`);
    }
  }
  for (const k of required) if (!(k in value)) throw new AttestationError(`${field}.${k}`, 'is missing');
  return value as Obj;
}

export function string(value: unknown, field: string, pattern: RegExp, maxLength: number): string {
  if (typeof value !== 'string') throw new AttestationError(field, 'must be a string');
  if (value.length > maxLength) throw new AttestationError(field, `longer than ${maxLength} characters`);
  if (!pattern.test(value)) throw new AttestationError(field, `does not match ${pattern.source}`);
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new AttestationError(field, `must be an integer in ${min}..${max}`);
  }
  return value;
}

export function array(value: unknown, field: string, minItems: number, maxItems: number): readonly unknown[] {
  if (!Array.isArray(value)) throw new AttestationError(field, 'must be an array');
  if (value.length < minItems || value.length > maxItems) {
    throw new AttestationError(field, `must have ${minItems}..${maxItems} items`);
  }
  return value;
}

export const HEX32 = /^[0-9a-f]{64}$/;
export const BASE64URL = /^[A-Za-z0-9_-]*$/;
export const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64url without padding: the alphabet, and re-encoding gives the same text. */
export function base64urlBytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  const b = fromBase64url(string(value, field, BASE64URL, Math.ceil((maxBytes * 4) / 3)));
  if (b === null) throw new AttestationError(field, 'is not canonical base64url');
  return b.slice();
}

/** Strict standard base64 with padding (what DSSE uses): re-encoding gives the same text. */
export function base64Bytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  const s = string(value, field, STD_BASE64, Math.ceil(maxBytes / 3) * 4);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw new AttestationError(field, 'is not canonical base64');
  return new Uint8Array(b);
}

export function hexBytes(value: unknown, field: string): Uint8Array {
  return new Uint8Array(Buffer.from(string(value, field, HEX32, 64), 'hex'));
}

/** RFC 3339 UTC timestamp with second precision, e.g. 2026-11-23T14:00:00Z. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function timestamp(value: unknown, field: string): { text: string; ms: number } {
  const text = string(value, field, RFC3339, 20);
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || new Date(ms).toISOString().replace('.000Z', 'Z') !== text) {
    throw new AttestationError(field, 'is not a valid UTC date and time');
  }
  return { text, ms };
}

export function formatTimestamp(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms % 1000 !== 0) throw new RangeError('timestamps are whole seconds');
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
