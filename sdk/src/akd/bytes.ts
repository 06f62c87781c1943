/** Byte helpers shared by the akd modules. All integers on the wire of akd are big-endian. */
import { concatBytes, equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { AkdError } from './errors.ts';

/** equalBytes is @noble's constant-time comparison; most of what we compare is public anyway. */
export { bytesToHex, concatBytes, equalBytes, hexToBytes };

export const U64_MAX = (1n << 64n) - 1n;

export function u64be(n: bigint): Uint8Array {
  if (typeof n !== 'bigint' || n < 0n || n > U64_MAX) throw new AkdError('input', `not a u64: ${n}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

/** akd's i2osp_array: 8-byte big-endian length prefix, then the bytes. */
export function i2osp(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), false);
  out.set(bytes, 8);
  return out;
}
