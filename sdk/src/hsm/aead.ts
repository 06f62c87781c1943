// The symmetric primitives keyfleet uses everywhere: XChaCha20-Poly1305 (random 24-byte nonces are
// safe at any volume we will see) and HKDF-SHA256, with context strings encoded canonically so
// that no two contexts share bytes.

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ByteWriter } from '../bytes.ts';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;

/**
 * A canonical encoding of a context: each part length-prefixed (u8 for strings, u16 for bytes,
 * with a type byte), so ("ab","c") and ("a","bc") never collide.
 */
export function context(...parts: readonly (string | Uint8Array)[]): Uint8Array {
  const w = new ByteWriter(128);
  for (const p of parts) {
    if (typeof p === 'string') w.u8(1).string8(p);
    else w.u8(2).bytes16(p);
  }
  return w.finish();
}

/** HKDF-SHA256 with a canonical `info`. */
export function deriveKey(ikm: Uint8Array, salt: string, info: Uint8Array, length = 32): Uint8Array {
  return hkdf(sha256, ikm, new TextEncoder().encode(salt), info, length);
}

export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** The plaintext, or null when the key, nonce, associated data or ciphertext is wrong. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | null {
  if (nonce.length !== AEAD_NONCE_BYTES || ciphertext.length < AEAD_TAG_BYTES) return null;
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
  } catch {
    return null;
  }
}
