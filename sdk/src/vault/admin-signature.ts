// The operator's admin calls to a vault member are signed: Ed25519 over a purpose-tagged
// `method | path | sha256(body) | timestamp | nonce`. The member checks the signature against the
// operator admin public key it was given, refuses clock skew beyond a bound and refuses a
// signature it has already accepted (replay). The random nonce makes two identical calls in the
// same second two different signatures (Ed25519 is deterministic): without it the second status
// poll of a second was refused as a replay. Shared by the operator (signs) and the vault (checks).
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';

const PURPOSE = 'keyfleet/v1/operator-admin';
export const MAX_ADMIN_SKEW_SECONDS = 60;

export function adminSigningInput(
  method: string,
  path: string,
  body: Uint8Array,
  timestamp: number,
  nonce: string,
): Uint8Array {
  return utf8ToBytes(
    `${PURPOSE}\n${method.toUpperCase()}\n${path}\n${bytesToHex(sha256(body))}\n${timestamp}\n${nonce}`,
  );
}

/** 128 random bits, hex: the per-request nonce. */
const NONCE_PATTERN = /^[0-9a-f]{32}$/;

export interface AdminSignature {
  readonly timestamp: number;
  readonly nonce: string;
  /** base64url, no padding. */
  readonly signature: string;
}

export function signAdminRequest(
  secretKey: Uint8Array,
  method: string,
  path: string,
  body: Uint8Array,
  timestamp = Math.floor(Date.now() / 1000),
  nonce = bytesToHex(randomBytes(16)),
): AdminSignature {
  const signature = ed25519.sign(adminSigningInput(method, path, body, timestamp, nonce), secretKey);
  return { timestamp, nonce, signature: Buffer.from(signature).toString('base64url') };
}

export type AdminVerdict = { ok: true } | { ok: false; reason: string };

/** Checks admin request signatures; remembers accepted ones for the skew window to refuse replays. */
export class AdminVerifier {
  readonly #publicKey: Uint8Array;
  readonly #now: () => number;
  readonly #seen = new Map<string, number>();

  constructor(publicKey: Uint8Array, now: () => number = () => Math.floor(Date.now() / 1000)) {
    if (publicKey.length !== 32) throw new TypeError('the operator admin public key is 32 bytes');
    this.#publicKey = publicKey;
    this.#now = now;
  }

  verify(
    method: string,
    path: string,
    body: Uint8Array,
    timestamp: unknown,
    signature: unknown,
    nonce: unknown,
  ): AdminVerdict {
    if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) {
      return { ok: false, reason: 'missing or malformed timestamp' };
    }
    if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) {
      return { ok: false, reason: 'missing or malformed nonce' };
    }
    if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(signature)) {
      return { ok: false, reason: 'missing or malformed signature' };
    }
    const now = this.#now();
    const at = Number(timestamp);
    if (Math.abs(now - at) > MAX_ADMIN_SKEW_SECONDS)
      return { ok: false, reason: 'timestamp outside the allowed skew' };
    for (const [seen, expires] of this.#seen) if (expires < now) this.#seen.delete(seen);
    if (this.#seen.has(signature)) return { ok: false, reason: 'replayed request' };
    const valid = ed25519.verify(
      Buffer.from(signature, 'base64url'),
      adminSigningInput(method, path, body, at, nonce),
      this.#publicKey,
      { zip215: false },
    );
    if (!valid) return { ok: false, reason: 'signature does not verify under the operator admin key' };
    this.#seen.set(signature, at + MAX_ADMIN_SKEW_SECONDS);
    return { ok: true };
  }
}
