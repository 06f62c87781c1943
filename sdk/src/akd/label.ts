/**
 * Node labels of akd's compressed binary Merkle Patricia trie (akd_core NodeLabel): a bit
 * string of `labelLen` bits (0..256), stored left-aligned in a 32-byte `labelVal`. Bit 0
 * is the most significant bit of labelVal[0]. Leaves have 256-bit labels (VRF outputs);
 * interior nodes have the longest common prefix of their children as label.
 *
 * Two labels are equal only if both length and all 32 bytes are equal — as in akd, the
 * bits past labelLen count (the "empty" placeholder label is 0x01 x 32 with length 0).
 */
import { AkdError } from './errors.ts';

export interface NodeLabel {
  /** 32 bytes */
  readonly labelVal: Uint8Array;
  /** length in bits, 0..256 */
  readonly labelLen: number;
}

export type Direction = 0 | 1;
export const LEFT: Direction = 0;
export const RIGHT: Direction = 1;

export const LABEL_BYTES = 32;
export const MAX_LABEL_LEN = 256;

/** Creates a label, checking its shape. `labelVal` is copied. */
export function nodeLabel(labelVal: Uint8Array, labelLen: number): NodeLabel {
  if (labelVal.length !== LABEL_BYTES) {
    throw new AkdError('input', `node label value must be ${LABEL_BYTES} bytes, got ${labelVal.length}`);
  }
  if (!Number.isInteger(labelLen) || labelLen < 0 || labelLen > MAX_LABEL_LEN) {
    throw new AkdError('input', `node label length must be 0..${MAX_LABEL_LEN}, got ${labelLen}`);
  }
  return { labelVal: Uint8Array.from(labelVal), labelLen };
}

/** The root's label: length 0, all zero. */
export const ROOT_LABEL: NodeLabel = Object.freeze({ labelVal: new Uint8Array(32), labelLen: 0 });
/** WhatsApp v1's placeholder for a missing child: 0x01 x 32, length 0. */
export const EMPTY_LABEL: NodeLabel = Object.freeze({ labelVal: new Uint8Array(32).fill(1), labelLen: 0 });

/** A full-length (256-bit) leaf label. */
export function leafLabel(labelVal: Uint8Array): NodeLabel {
  return nodeLabel(labelVal, MAX_LABEL_LEN);
}

/** The bytes akd hashes for a label: label_len as u32 big-endian, then the 32 label bytes. */
export function labelToBytes(label: NodeLabel): Uint8Array {
  // byte by byte: a DataView per call cost more than the rest (hot in tree hashing and storage keys)
  const out = new Uint8Array(36);
  const n = label.labelLen;
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out.set(label.labelVal, 4);
  return out;
}

export function labelEquals(a: NodeLabel, b: NodeLabel): boolean {
  if (a.labelLen !== b.labelLen) return false;
  const x = a.labelVal;
  const y = b.labelVal;
  for (let i = 0; i < 32; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Orders by length, then by value bytes (akd's Ord for NodeLabel). */
export function compareLabels(a: NodeLabel, b: NodeLabel): number {
  if (a.labelLen !== b.labelLen) return a.labelLen - b.labelLen;
  for (let i = 0; i < 32; i++) {
    const d = (a.labelVal[i] as number) - (b.labelVal[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** Bit `index` of the raw value (no length check). */
function rawBit(val: Uint8Array, index: number): Direction {
  return (((val[index >> 3] as number) >> (7 - (index & 7))) & 1) as Direction;
}

/** Bit `index` (0 = most significant bit of byte 0); index must be < labelLen. */
export function getBit(label: NodeLabel, index: number): Direction {
  if (!Number.isInteger(index) || index < 0 || index >= label.labelLen) {
    throw new AkdError('input', `bit index ${index} out of range for a label of ${label.labelLen} bits`);
  }
  return rawBit(label.labelVal, index);
}

/** The first `len` bits, with the rest zeroed; the label itself if len >= 256 (as akd). */
export function getPrefix(label: NodeLabel, len: number): NodeLabel {
  if (len >= MAX_LABEL_LEN) return label;
  if (len <= 0) return ROOT_LABEL;
  const out = new Uint8Array(32);
  const full = len >> 3;
  out.set(label.labelVal.subarray(0, full));
  const rem = len & 7;
  if (rem !== 0) out[full] = (label.labelVal[full] as number) & (0xff << (8 - rem)) & 0xff;
  return { labelVal: out, labelLen: len };
}

/** Number of leading bits the two raw values share, capped at `max`. */
function commonBits(a: Uint8Array, b: Uint8Array, max: number): number {
  let n = 0;
  for (let i = 0; i < 32 && n < max; i++) {
    const x = (a[i] as number) ^ (b[i] as number);
    if (x === 0) {
      n += 8;
      continue;
    }
    n += Math.clz32(x) - 24;
    break;
  }
  return Math.min(n, max);
}

/** Whether `a` is a (non-strict) prefix of `b`, comparing the first a.labelLen bits. */
export function isPrefixOf(a: NodeLabel, b: NodeLabel): boolean {
  if (a.labelLen > b.labelLen) return false;
  return commonBits(a.labelVal, b.labelVal, a.labelLen) === a.labelLen;
}

/**
 * Longest common prefix, as akd's get_longest_common_prefix: if either label is the
 * empty placeholder the result is the empty placeholder.
 */
export function longestCommonPrefix(a: NodeLabel, b: NodeLabel): NodeLabel {
  if (labelEquals(a, EMPTY_LABEL) || labelEquals(b, EMPTY_LABEL)) return EMPTY_LABEL;
  const n = commonBits(a.labelVal, b.labelVal, Math.min(a.labelLen, b.labelLen));
  return getPrefix(a, n);
}

/**
 * Which side of `parent` the label `child` lies on, or null if parent is not a strict
 * prefix of child (akd's get_prefix_ordering; Invalid -> null).
 */
export function prefixOrdering(parent: NodeLabel, child: NodeLabel): Direction | null {
  if (parent.labelLen >= child.labelLen) return null;
  if (commonBits(parent.labelVal, child.labelVal, parent.labelLen) !== parent.labelLen) return null;
  return rawBit(child.labelVal, parent.labelLen);
}

export function formatLabel(label: NodeLabel): string {
  let hex = '';
  for (const b of label.labelVal) hex += b.toString(16).padStart(2, '0');
  return `(0x${hex}, ${label.labelLen})`;
}
