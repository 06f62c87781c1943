// Ed25519 for attestation signatures, with the same strict rules as the HSM chain (CHAIN.md):
// public keys must be canonical prime-order points, and OpenSSL's verification requires S < L and
// an exact R, so no signature has a second valid encoding. Signers are an interface so the
// operator can keep its key in a KMS or HSM.
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519PrivateKey, ed25519PublicKeyProblem, rawPublicKey } from '../hsm/keys.ts';

export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** A signer holding a raw 32-byte Ed25519 seed (operator and witness keys from Secrets). */
export function ed25519Signer(seed: Uint8Array): Signer {
  const key = ed25519PrivateKey(seed);
  return {
    publicKey: rawPublicKey(key),
    sign: (message) => new Uint8Array(sign(null, message, key)),
  };
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Checked keys: the subgroup check costs about a millisecond and trusted keys are few.
const checkedKeys = new Map<string, KeyObject | null>();
const CHECKED_KEYS_MAX = 256;

function publicKeyObject(raw: Uint8Array): KeyObject | null {
  const id = Buffer.from(raw).toString('hex');
  const cached = checkedKeys.get(id);
  if (cached !== undefined) return cached;
  const key =
    ed25519PublicKeyProblem(raw) === null
      ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
      : null;
  if (checkedKeys.size >= CHECKED_KEYS_MAX) checkedKeys.delete(checkedKeys.keys().next().value as string);
  checkedKeys.set(id, key);
  return key;
}

/** True only for a valid, canonical signature by `publicKey`. Never throws. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const key = publicKeyObject(publicKey);
  if (key === null) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** A DSSE keyid: hex SHA-256 of the raw 32-byte public key. */
export function keyIdOf(publicKey: Uint8Array): string {
  return Buffer.from(sha256(publicKey)).toString('hex');
}
