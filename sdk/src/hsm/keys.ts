// Ed25519 and X25519 as keyfleet uses them: every signature is made over a purpose-tagged input
// (so a signature made for one purpose can never be presented as another), public keys are checked
// strictly before they are trusted, and the arithmetic is OpenSSL's through node:crypto (about 20x
// faster than pure JS on our machine, which matters for Raft peer authentication).
//
// Verification rules, the same on every member and client:
//   - a public key must be the canonical encoding of a point of the prime-order subgroup (not small
//     order, no torsion component): checked once with @noble/curves, then cached;
//   - the signature is RFC 8032 verification as OpenSSL implements it: S must be < L and R must be
//     the canonical encoding of [S]B - [k]A, compared byte for byte (cofactorless).

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject, sign, verify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8 } from './bytes.ts';

/** Domain separation tags. A signature is over `purpose || 0x00 || message`. */
export const Purpose = {
  certificate: 'keyfleet/v1/certificate',
  certificateRequest: 'keyfleet/v1/certificate-request',
  slotAttestation: 'keyfleet/v1/slot-attestation',
  fleetSecretEnvelope: 'keyfleet/v1/fleet-secret-envelope',
  escrowResponse: 'keyfleet/v1/escrow-response',
  auditCheckpoint: 'keyfleet/v1/hsm-audit-checkpoint',
  raftMessage: 'keyfleet/v1/raft-message',
} as const;
export type Purpose = (typeof Purpose)[keyof typeof Purpose];

export function signingInput(purpose: Purpose, message: Uint8Array): Uint8Array {
  return concatBytes(utf8(purpose), new Uint8Array([0]), message);
}

// DER prefixes of PKCS#8 private keys and SPKI public keys (RFC 8410) for raw 32-byte keys.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

function exact32(b: Uint8Array, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new TypeError(`${what} must be 32 bytes`);
}

/** An Ed25519 signing key from its 32-byte seed (RFC 8032 private key). */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  exact32(seed, 'Ed25519 seed');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}

/** An X25519 private key from its 32 bytes (RFC 7748 scalar, clamped by OpenSSL when used). */
export function x25519PrivateKey(secret: Uint8Array): KeyObject {
  exact32(secret, 'X25519 secret');
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 or X25519 private or public KeyObject. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  const reason = x25519PublicKeyProblem(raw);
  if (reason) throw new TypeError(reason);
  return createPublicKey({ key: Buffer.concat([X25519_SPKI, raw]), format: 'der', type: 'spki' });
}

/**
 * X25519 of `privateKey` with the checked public key `raw`. The all-zero result (a small-order
 * peer key, which x25519PublicKeyObject already refuses) is refused again here, where it matters.
 */
export function x25519SharedSecret(privateKey: KeyObject, raw: Uint8Array): Uint8Array {
  const shared = new Uint8Array(diffieHellman({ privateKey, publicKey: x25519PublicKeyObject(raw) }));
  if (shared.every((b) => b === 0)) throw new TypeError('X25519 produced the all-zero secret');
  return shared;
}

/** Signs `purpose || 0 || message` (Ed25519 is deterministic: same inputs, same signature). */
export function signWithPurpose(key: KeyObject, purpose: Purpose, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, signingInput(purpose, message), key));
}

/** Why `raw` is not acceptable as an Ed25519 public key, or null when it is. */
export function ed25519PublicKeyProblem(raw: Uint8Array): string | null {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) return 'an Ed25519 public key is 32 bytes';
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    point = ed25519.Point.fromBytes(raw, false);
  } catch {
    return 'not the canonical encoding of a curve point';
  }
  if (point.isSmallOrder()) return 'a small-order point';
  if (!point.isTorsionFree()) return 'not in the prime-order subgroup';
  return null;
}

// Checked public keys, so the noble subgroup check (about a millisecond) runs once per key.
const verifiedKeys = new Map<string, KeyObject>();
const VERIFIED_KEYS_MAX = 4096;

function ed25519PublicKeyObject(raw: Uint8Array): KeyObject | null {
  const id = Buffer.from(raw).toString('hex');
  const cached = verifiedKeys.get(id);
  if (cached) return cached;
  if (ed25519PublicKeyProblem(raw) !== null) return null;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: 'der', type: 'spki' });
  if (verifiedKeys.size >= VERIFIED_KEYS_MAX) verifiedKeys.delete(verifiedKeys.keys().next().value as string);
  verifiedKeys.set(id, key);
  return key;
}

/** True only for a valid signature by `publicKey` over `purpose || 0 || message`. Never throws. */
export function verifyWithPurpose(
  publicKey: Uint8Array,
  purpose: Purpose,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  const key = ed25519PublicKeyObject(publicKey);
  if (!key) return false;
  try {
    return verify(null, signingInput(purpose, message), key, signature);
  } catch {
    return false;
  }
}

const P = 2n ** 255n - 19n;
// u-coordinates of the points of order 1, 2, 4 and 8 on Curve25519 and its twist (the list
// libsodium refuses): 0, 1, p-1 and the two order-8 points.
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/** Why `raw` is not acceptable as an X25519 public key, or null when it is. */
export function x25519PublicKeyProblem(raw: Uint8Array): string | null {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) return 'an X25519 public key is 32 bytes';
  if ((raw[31]! & 0x80) !== 0) return 'the top bit of an X25519 public key must be clear';
  const u = BigInt(`0x${Buffer.from(raw).reverse().toString('hex')}`);
  if (u >= P) return 'not a canonical field element';
  if (SMALL_ORDER_U.has(u)) return 'a small-order point';
  return null;
}
