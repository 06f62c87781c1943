// Canonical JSON for digests and signatures: object keys sorted by UTF-16 code units (as RFC 8785
// does), no whitespace, JSON.stringify's string escaping. Our documents hold only strings, safe
// integers, booleans, null, arrays and objects, so number formatting (the hard part of RFC 8785)
// never arises: anything else is refused rather than given a second encoding.
import { AttestationError } from './errors.ts';

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [k: string]: JsonValue };

export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw new AttestationError(path, 'string is not well-formed Unicode');
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new AttestationError(path, 'only safe integers are allowed');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, `${path}.${k}`)}`).join(',')}}`;
  }
  throw new AttestationError(path, `a ${typeof value} has no canonical JSON form`);
}

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

/**
 * Parses JSON text of at most `maxBytes` UTF-8 bytes, refusing invalid UTF-8. JSON.parse keeps the
 * last of duplicate keys; signed documents are therefore also required to equal the canonical
 * encoding of what was decoded (decodeStatement), which refuses duplicates and any other variant.
 */
export function parseJsonBytes(bytes: Uint8Array, maxBytes: number, field: string): unknown {
  if (bytes.length > maxBytes) throw new AttestationError(field, `larger than ${maxBytes} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AttestationError(field, 'not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new AttestationError(field, `not JSON (${(e as Error).message.slice(0, 120)})`);
  }
}
