/**
 * The directory's signed epoch head: what a client pins for an epoch. The publisher signs
 *
 *   "keyfleet/akd-epoch-head/v1" || u16(len(namespace)) || namespace (UTF-8)
 *   || u64(epoch) || root hash [32] || previous root hash [32] || u64(timestamp ms)
 *
 * with Ed25519 (integers big-endian). This is the wire format directory-node's publisher
 * writes (directory-node/src/publisher/epoch-head.ts); it lives here so clients and
 * servers share one definition.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { DirectoryVerificationError } from './errors.ts';

const DOMAIN = new TextEncoder().encode('keyfleet/akd-epoch-head/v1');
export const MAX_NAMESPACE_BYTES = 253;
export const EPOCH_HEAD_SIGNATURE_BYTES = 64;
const FIXED_TAIL_BYTES = 8 + 32 + 32 + 8;
export const MAX_EPOCH_HEAD_BYTES = DOMAIN.length + 2 + MAX_NAMESPACE_BYTES + FIXED_TAIL_BYTES;

export interface EpochHead {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  readonly previousRootHash: Uint8Array;
  /** milliseconds since the Unix epoch, the publisher's clock */
  readonly timestamp: number;
}

export function encodeEpochHead(head: EpochHead): Uint8Array {
  const ns = new TextEncoder().encode(head.namespace);
  if (ns.length === 0 || ns.length > MAX_NAMESPACE_BYTES) {
    throw new RangeError(`namespace must be 1..${MAX_NAMESPACE_BYTES} bytes`);
  }
  if (head.rootHash.length !== 32 || head.previousRootHash.length !== 32) {
    throw new RangeError('root hashes are 32 bytes');
  }
  const out = new Uint8Array(DOMAIN.length + 2 + ns.length + FIXED_TAIL_BYTES);
  const view = new DataView(out.buffer);
  out.set(DOMAIN, 0);
  let at = DOMAIN.length;
  view.setUint16(at, ns.length);
  out.set(ns, at + 2);
  at += 2 + ns.length;
  view.setBigUint64(at, BigInt(head.epoch));
  out.set(head.rootHash, at + 8);
  out.set(head.previousRootHash, at + 40);
  view.setBigUint64(at + 72, BigInt(head.timestamp));
  return out;
}

export function decodeEpochHead(bytes: Uint8Array): EpochHead {
  const malformed = (why: string) =>
    new DirectoryVerificationError('epoch-head', `malformed epoch head: ${why}`);
  if (bytes.length < DOMAIN.length + 2 || bytes.length > MAX_EPOCH_HEAD_BYTES) {
    throw malformed(`${bytes.length} bytes`);
  }
  for (let i = 0; i < DOMAIN.length; i++) {
    if (bytes[i] !== DOMAIN[i]) throw malformed('not a keyfleet/akd-epoch-head/v1 head');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nsLength = view.getUint16(DOMAIN.length);
  const at = DOMAIN.length + 2 + nsLength;
  if (nsLength === 0 || bytes.length !== at + FIXED_TAIL_BYTES) throw malformed('wrong length');
  let namespace: string;
  try {
    namespace = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(DOMAIN.length + 2, at));
  } catch {
    throw malformed('namespace is not UTF-8');
  }
  const epoch = view.getBigUint64(at);
  const timestamp = view.getBigUint64(at + 72);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER) || timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw malformed('epoch or timestamp beyond 2^53');
  }
  return {
    namespace,
    epoch: Number(epoch),
    rootHash: bytes.slice(at + 8, at + 40),
    previousRootHash: bytes.slice(at + 40, at + 72),
    timestamp: Number(timestamp),
  };
}

export function signEpochHead(
  head: EpochHead,
  secretKey: Uint8Array,
): { head: Uint8Array; signature: Uint8Array } {
  const bytes = encodeEpochHead(head);
  return { head: bytes, signature: ed25519.sign(bytes, secretKey) };
}

/** The head, if `signature` is the publisher's Ed25519 signature over `bytes`; else throws. */
export function verifyEpochHeadSignature(
  bytes: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): EpochHead {
  let valid = false;
  try {
    valid = signature.length === EPOCH_HEAD_SIGNATURE_BYTES && ed25519.verify(signature, bytes, publicKey);
  } catch {
    valid = false; // a malformed point or key is an invalid signature, not a crash
  }
  if (!valid) {
    throw new DirectoryVerificationError(
      'epoch-head',
      'the epoch head signature does not verify with the directory signing key',
    );
  }
  return decodeEpochHead(bytes);
}
