// The escrow HTTP API's JSON messages: one schema per message, one strict parser and one
// serialiser for all of them. Bytes travel as unpadded base64url and every byte field has an exact
// length, so request and response sizes do not depend on secrets. Unknown fields are refused.

import { sha256 } from '@noble/hashes/sha2.js';
import { ByteWriter } from '../bytes.ts';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from '../hsm/aead.ts';
import { base64url, fromBase64url } from '../hsm/bytes.ts';
import { MEMBER_ID_PATTERN } from '../hsm/ids.ts';
import {
  ACK_NONCE_BYTES,
  BACKUP_KEY_BYTES,
  DIGEST_BYTES,
  LOGIN_ID_BYTES,
  OPAQUE_SIZES,
  RELEASE_PLAINTEXT_BYTES,
  SESSION_ID_BYTES,
  SESSION_TAG_BYTES,
  SIGNATURE_BYTES,
  TICKET_BYTES,
  USER_ID_PATTERN,
} from './crypto.ts';

export const ESCROW_PATHS = {
  registerStart: '/v1/escrow/register/start',
  registerFinish: '/v1/escrow/register/finish',
  recoverStart: '/v1/escrow/recover/start',
  recoverFinish: '/v1/escrow/recover/finish',
  backupKey: '/v1/escrow/backup-key',
  delete: '/v1/escrow/delete',
} as const;
export type EscrowPath = (typeof ESCROW_PATHS)[keyof typeof ESCROW_PATHS];

/** Larger request bodies are refused before parsing (the largest valid one is under 1 KiB). */
export const MAX_REQUEST_BYTES = 4096;

export const ERROR_STATUS = {
  'invalid-request': 400,
  'authentication-failed': 401,
  'not-found': 404,
  exists: 409,
  stale: 409,
  locked: 423,
  busy: 503,
  unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

type Field =
  | { readonly t: 'user' }
  | { readonly t: 'member' }
  | { readonly t: 'bytes'; readonly n: number; readonly optional?: true }
  | { readonly t: 'optional'; readonly of: Schema };
type Schema = { readonly [name: string]: Field };

type Value<F> = F extends { t: 'user' | 'member' }
  ? string
  : F extends { t: 'bytes'; optional: true }
    ? Uint8Array | undefined
    : F extends { t: 'bytes' }
      ? Uint8Array
      : F extends { t: 'optional'; of: infer S extends Schema }
        ? Message<S> | undefined
        : never;
type OptionalKeys<S extends Schema> = {
  [K in keyof S]: S[K] extends { t: 'optional' } | { optional: true } ? K : never;
}[keyof S];
export type Message<S extends Schema> = {
  readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Value<S[K]>;
} & { readonly [K in OptionalKeys<S>]?: Value<S[K]> };

const user = { t: 'user' } as const;
const member = { t: 'member' } as const;
const bytes = (n: number) => ({ t: 'bytes', n }) as const;
const optionalBytes = (n: number) => ({ t: 'bytes', n, optional: true }) as const;

/**
 * Optional in requests that change committed state (register/finish, backup-key, delete): a fresh
 * random value from the client. When present, the 2xx answer carries `ack`, the member's HSM
 * signature that the command committed (PROTOCOL.md, "Signed acknowledgements"). Optional so that
 * clients from before signed acknowledgements keep working; the sdk client always sends it and
 * refuses an answer without a valid `ack`.
 */
const ackNonce = optionalBytes(ACK_NONCE_BYTES);

/** The signed acknowledgement in answers to requests that carried an `ackNonce`. */
const ack = {
  t: 'optional',
  of: {
    /** The registration the committed state belongs to. */
    recordDigest: bytes(DIGEST_BYTES),
    /** SHA-256 of the escrow command committed to the log. */
    commandDigest: bytes(DIGEST_BYTES),
    /** Ed25519 (purpose escrow-response) over commitAckTranscript (crypto.ts). */
    signature: bytes(SIGNATURE_BYTES),
  },
} as const;

export const schemas = {
  registerStartRequest: { userId: user, registrationRequest: bytes(OPAQUE_SIZES.registrationRequest) },
  registerStartResponse: {
    member,
    ticket: bytes(TICKET_BYTES),
    registrationResponse: bytes(OPAQUE_SIZES.registrationResponse),
    signature: bytes(SIGNATURE_BYTES),
  },
  registerFinishRequest: {
    userId: user,
    ticket: bytes(TICKET_BYTES),
    registrationRecord: bytes(OPAQUE_SIZES.registrationRecord),
    /**
     * Present only to replace an existing registration: an authorisation by a session of its owner,
     * and the backup key to keep, encrypted under that session's upload key (stored with the new
     * registration in the same command, so a change of password never leaves the user without one).
     */
    replace: {
      t: 'optional',
      of: {
        sessionId: bytes(SESSION_ID_BYTES),
        tag: bytes(SESSION_TAG_BYTES),
        nonce: bytes(AEAD_NONCE_BYTES),
        ciphertext: bytes(BACKUP_KEY_BYTES + AEAD_TAG_BYTES),
      },
    },
    ackNonce,
  },
  registerFinishResponse: { member, ack },
  recoverStartRequest: { userId: user, startLoginRequest: bytes(OPAQUE_SIZES.startLoginRequest) },
  recoverStartResponse: {
    member,
    loginId: bytes(LOGIN_ID_BYTES),
    loginResponse: bytes(OPAQUE_SIZES.loginResponse),
    signature: bytes(SIGNATURE_BYTES),
  },
  recoverFinishRequest: {
    userId: user,
    loginId: bytes(LOGIN_ID_BYTES),
    finishLoginRequest: bytes(OPAQUE_SIZES.finishLoginRequest),
  },
  recoverFinishResponse: {
    member,
    sessionId: bytes(SESSION_ID_BYTES),
    releaseNonce: bytes(AEAD_NONCE_BYTES),
    releaseCiphertext: bytes(RELEASE_PLAINTEXT_BYTES + AEAD_TAG_BYTES),
    signature: bytes(SIGNATURE_BYTES),
  },
  backupKeyRequest: {
    userId: user,
    sessionId: bytes(SESSION_ID_BYTES),
    nonce: bytes(AEAD_NONCE_BYTES),
    ciphertext: bytes(BACKUP_KEY_BYTES + AEAD_TAG_BYTES),
    ackNonce,
  },
  backupKeyResponse: { member, ack },
  deleteRequest: {
    userId: user,
    sessionId: bytes(SESSION_ID_BYTES),
    tag: bytes(SESSION_TAG_BYTES),
    ackNonce,
  },
  deleteResponse: { member, ack },
} as const satisfies Record<string, Schema>;

type Schemas = typeof schemas;
export type RegisterStartRequest = Message<Schemas['registerStartRequest']>;
export type RegisterStartResponse = Message<Schemas['registerStartResponse']>;
export type RegisterFinishRequest = Message<Schemas['registerFinishRequest']>;
export type RegisterFinishResponse = Message<Schemas['registerFinishResponse']>;
export type RecoverStartRequest = Message<Schemas['recoverStartRequest']>;
export type RecoverStartResponse = Message<Schemas['recoverStartResponse']>;
export type RecoverFinishRequest = Message<Schemas['recoverFinishRequest']>;
export type RecoverFinishResponse = Message<Schemas['recoverFinishResponse']>;
export type BackupKeyRequest = Message<Schemas['backupKeyRequest']>;
export type BackupKeyResponse = Message<Schemas['backupKeyResponse']>;
export type DeleteRequest = Message<Schemas['deleteRequest']>;
export type DeleteResponse = Message<Schemas['deleteResponse']>;

/** A request or response that does not match its schema; `field` names the first offending field. */
export class WireError extends Error {
  override name = 'WireError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
  );
}

/** Parses a decoded JSON body against `schema`; throws WireError naming the field. */
export function parseMessage<S extends Schema>(schema: S, body: unknown, at = ''): Message<S> {
  if (!isPlainObject(body)) throw new WireError(at || 'body', 'expected a JSON object');
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(schema, key)) throw new WireError(`${at}${key}`, 'unknown field');
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const name = `${at}${key}`;
    const v = body[key];
    if (field.t === 'optional') {
      if (v !== undefined) out[key] = parseMessage(field.of, v, `${name}.`);
      continue;
    }
    if (field.t === 'bytes' && field.optional && v === undefined) continue;
    if (typeof v !== 'string') throw new WireError(name, 'expected a string');
    if (field.t === 'user') {
      if (!USER_ID_PATTERN.test(v))
        throw new WireError(name, `expected 1..128 characters of A-Z a-z 0-9 _ -`);
      out[key] = v;
    } else if (field.t === 'member') {
      if (!MEMBER_ID_PATTERN.test(v)) throw new WireError(name, 'not a member id');
      out[key] = v;
    } else {
      const b = fromBase64url(v);
      if (!b) throw new WireError(name, 'expected unpadded base64url');
      if (b.length !== field.n) throw new WireError(name, `expected ${field.n} bytes, got ${b.length}`);
      out[key] = b;
    }
  }
  return out as Message<S>;
}

/** The JSON value of a message (bytes as base64url). */
export function messageToJson<S extends Schema>(schema: S, m: Message<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const v = (m as Record<string, unknown>)[key];
    if (field.t === 'optional') {
      if (v !== undefined) out[key] = messageToJson(field.of, v as Message<Schema>);
    } else if (field.t === 'bytes') {
      if (v === undefined && field.optional) continue;
      const b = v as Uint8Array;
      if (b.length !== field.n) throw new WireError(key, `expected ${field.n} bytes, got ${b.length}`);
      out[key] = base64url(b);
    } else {
      out[key] = v;
    }
  }
  return out;
}

/**
 * SHA-256 of a message's canonical binary encoding (fields in schema order, each named, absent
 * optional fields marked): what an acknowledgement names as the request it answers. Client and
 * member compute it from the parsed message, so JSON spelling does not matter.
 */
export function messageDigest<S extends Schema>(schema: S, m: Message<S>): Uint8Array {
  const w = new ByteWriter(512);
  const encode = (sc: Schema, msg: Record<string, unknown>) => {
    for (const [key, field] of Object.entries(sc)) {
      const v = msg[key];
      w.string8(key);
      if (v === undefined) {
        w.u8(0);
        continue;
      }
      w.u8(1);
      if (field.t === 'optional') encode(field.of, v as Record<string, unknown>);
      else if (field.t === 'bytes') w.bytes16(v as Uint8Array);
      else w.string8(v as string);
    }
  };
  encode(schema, m as Record<string, unknown>);
  return sha256(w.finish());
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** The error of a non-2xx response body, or null when it is not one of ours. */
export function parseErrorBody(body: unknown): ErrorBody['error'] | null {
  if (!isPlainObject(body) || !isPlainObject(body.error)) return null;
  const { code, message } = body.error;
  if (typeof code !== 'string' || !Object.hasOwn(ERROR_STATUS, code) || typeof message !== 'string')
    return null;
  return { code: code as ErrorCode, message };
}
