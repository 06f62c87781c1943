/**
 * A VRF secret key's scalars as the WASM backends (libsodium.ts, dalek.ts) take them: 32-byte
 * little-endian x and 8x mod L (8*Gamma = 8x*H, H of order L, for an output without a proof),
 * computed once per key.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { type VrfSecretKey, vrfSecretKey } from './ecvrf.ts';

const L: bigint = ed25519.Point.CURVE().n;

export type KeyScalars = { readonly x: Uint8Array; readonly eightX: Uint8Array; readonly key: VrfSecretKey };
const scalars = new WeakMap<VrfSecretKey, KeyScalars>();

export function keyScalars(secretKey: Uint8Array | VrfSecretKey): KeyScalars {
  const key = vrfSecretKey(secretKey);
  let s = scalars.get(key);
  if (s === undefined) {
    s = { x: numberToBytesLE(key.scalar, 32), eightX: numberToBytesLE((8n * key.scalar) % L, 32), key };
    scalars.set(key, s);
  }
  return s;
}
