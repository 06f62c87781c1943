// Input validation for the directory's HTTP API. Every input has a size limit.
import { badRequest } from './http.ts';

export const MAX_USERNAME_BYTES = 256;
export const MAX_VALUE_BYTES = 4096;
export const MAX_REQUEST_ID_LENGTH = 128;
export const MAX_EPOCH = Number.MAX_SAFE_INTEGER;

const REQUEST_ID = /^[A-Za-z0-9._:-]+$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

export function username(raw: unknown, field = 'username'): Uint8Array {
  if (typeof raw !== 'string' || raw.length === 0) throw badRequest(`${field} must be a non-empty string`);
  if (raw.length > MAX_USERNAME_BYTES)
    throw badRequest(`${field} is longer than ${MAX_USERNAME_BYTES} bytes`);
  if (!raw.isWellFormed()) throw badRequest(`${field} is not well-formed Unicode`);
  const bytes = new TextEncoder().encode(raw);
  if (bytes.length > MAX_USERNAME_BYTES)
    throw badRequest(`${field} is longer than ${MAX_USERNAME_BYTES} bytes`);
  return bytes;
}

export function value(raw: unknown, field = 'value'): Uint8Array {
  if (typeof raw !== 'string' || raw.length === 0)
    throw badRequest(`${field} must be a non-empty base64url string`);
  if (raw.length > Math.ceil((MAX_VALUE_BYTES * 4) / 3) || !BASE64URL.test(raw) || raw.length % 4 === 1) {
    throw badRequest(`${field} must be base64url (no padding) of at most ${MAX_VALUE_BYTES} bytes`);
  }
  const bytes = new Uint8Array(Buffer.from(raw, 'base64url'));
  if (
    bytes.length === 0 ||
    bytes.length > MAX_VALUE_BYTES ||
    Buffer.from(bytes).toString('base64url') !== raw
  ) {
    throw badRequest(`${field} must be canonical base64url of 1..${MAX_VALUE_BYTES} bytes`);
  }
  return bytes;
}

export function requestId(raw: unknown): string {
  if (
    typeof raw !== 'string' ||
    raw.length === 0 ||
    raw.length > MAX_REQUEST_ID_LENGTH ||
    !REQUEST_ID.test(raw)
  ) {
    throw badRequest(`requestId must be 1..${MAX_REQUEST_ID_LENGTH} characters of [A-Za-z0-9._:-]`);
  }
  return raw;
}

export function epochNumber(raw: unknown, field = 'epoch'): number {
  if (typeof raw !== 'string' || !DECIMAL.test(raw)) throw badRequest(`${field} must be a decimal integer`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw badRequest(`${field} must be between 1 and ${MAX_EPOCH}`);
  return n;
}

export function positiveInt(raw: unknown, field: string, max: number): number {
  if (typeof raw !== 'string' || !DECIMAL.test(raw)) throw badRequest(`${field} must be a decimal integer`);
  const n = Number(raw);
  if (n < 1 || n > max) throw badRequest(`${field} must be between 1 and ${max}`);
  return n;
}

export function hex32(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || !/^[0-9a-f]{64}$/.test(raw))
    throw badRequest(`${field} must be 64 lowercase hex characters`);
  return raw;
}

/** The body of POST /v1/changes: exactly {username, value, requestId}. */
export function changeBody(body: unknown): { username: Uint8Array; value: Uint8Array; requestId: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('body must be a JSON object');
  const extra = Object.keys(body).filter((k) => k !== 'username' && k !== 'value' && k !== 'requestId');
  if (extra.length > 0) throw badRequest(`unknown field ${JSON.stringify(extra[0]!.slice(0, 64))}`);
  const b = body as Record<string, unknown>;
  return { username: username(b.username), value: value(b.value), requestId: requestId(b.requestId) };
}
