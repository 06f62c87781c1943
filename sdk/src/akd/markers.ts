/**
 * Marker versions (akd_core/src/utils.rs). A key with version v has, besides its fresh
 * leaf for v, fresh leaves for every earlier version; the history and lookup proofs use a
 * few of them as "markers": the largest power of two <= v for a lookup, and for a history
 * proof of versions start..end at epoch e the past markers below `start` and the future
 * markers above `end` (up to e) given by a skip list of powers of two.
 */
import { AkdError } from './errors.ts';

const SKIPLIST: readonly bigint[] = [1n, 1n << 1n, 1n << 2n, 1n << 4n, 1n << 8n, 1n << 16n, 1n << 32n];

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** floor(log2(version)); version must be >= 1. */
export function markerVersionLog2(version: bigint): number {
  if (version < 1n) throw new AkdError('input', `marker version of ${version}: versions start at 1`);
  return bitLength(version) - 1;
}

/** The marker version a lookup proof proves for `version`: 2^floor(log2(version)). */
export function lookupMarkerVersion(version: bigint): bigint {
  return 1n << BigInt(markerVersionLog2(version));
}

function maxSkiplistIndex(x: bigint): number {
  if (x < (SKIPLIST[0] as bigint)) throw new AkdError('input', `marker skip list: ${x} is below 1`);
  let i = 0;
  while (i < SKIPLIST.length && x >= (SKIPLIST[i] as bigint)) i++;
  return i - 1;
}

/** akd's get_marker_versions(start_version, end_version, epoch): [past, future]. */
export function getMarkerVersions(
  startVersion: bigint,
  endVersion: bigint,
  epoch: bigint,
): { past: bigint[]; future: bigint[] } {
  const past: bigint[] = [];
  const last = (): bigint | undefined => past[past.length - 1];
  const sIdx = maxSkiplistIndex(startVersion);
  if (SKIPLIST[sIdx] !== startVersion) past.push(SKIPLIST[sIdx] as bigint);
  const startPow = 1n << BigInt(markerVersionLog2(startVersion));
  if (startPow !== startVersion && (past.length === 0 || startPow !== last())) past.push(startPow);
  for (let i = bitLength(startVersion) - 1; i >= 0; i--) {
    const shift = 1n << BigInt(i);
    if ((startVersion & shift) !== 0n) {
      const mask = (shift - 1n) | shift;
      const v = startVersion & ~mask;
      if (v !== 0n && (past.length === 0 || v !== last())) past.push(v);
    }
  }

  const future: bigint[] = [];
  let fv = endVersion;
  const endLen = bitLength(endVersion);
  for (let i = 0; i < endLen; i++) {
    const shift = 1n << BigInt(i);
    if ((endVersion & shift) === 0n) {
      fv |= shift;
      fv &= ~(shift - 1n);
      if (fv <= epoch) future.push(fv);
    }
  }
  const endIdx = maxSkiplistIndex(endVersion);
  const epochIdx = maxSkiplistIndex(epoch);
  const slice = SKIPLIST.slice(endIdx + 1, epochIdx + 1);
  const next = markerVersionLog2(endVersion) + 1;
  const final = markerVersionLog2(epoch);
  for (let i = next; i <= final; i++) {
    const val = 1n << BigInt(i);
    if (slice.length > 0 && val >= (slice[0] as bigint)) break;
    future.push(val);
  }
  future.push(...slice);
  return { past, future };
}
