// The publisher's signed epoch head: what a client or witness pins for an epoch.
//
//   signed bytes = "keyfleet/akd-epoch-head/v1" || u16(len(namespace)) || namespace (UTF-8)
//                  || u64(epoch) || root hash [32] || previous root hash [32] || u64(timestamp ms)
//
// Signature: Ed25519 over those bytes. All integers big-endian.
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';

const DOMAIN = new TextEncoder().encode('keyfleet/akd-epoch-head/v1');
export const MAX_NAMESPACE_BYTES = 253;

export type EpochHead = {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  readonly previousRootHash: Uint8Array;
  readonly timestamp: number;
};

export function encodeEpochHead(head: EpochHead): Uint8Array {
  const ns = new TextEncoder().encode(head.namespace);
  if (ns.length === 0 || ns.length > MAX_NAMESPACE_BYTES) throw new Error('namespace must be 1..253 bytes');
  if (head.rootHash.length !== 32 || head.previousRootHash.length !== 32)
    throw new Error('root hashes are 32 bytes');
  const out = new Uint8Array(DOMAIN.length + 2 + ns.length + 8 + 32 + 32 + 8);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(DOMAIN, at);
  at += DOMAIN.length;
  view.setUint16(at, ns.length);
  at += 2;
  out.set(ns, at);
  at += ns.length;
  view.setBigUint64(at, BigInt(head.epoch));
  at += 8;
  out.set(head.rootHash, at);
  at += 32;
  out.set(head.previousRootHash, at);
  at += 32;
  view.setBigUint64(at, BigInt(head.timestamp));
  return out;
}

export function decodeEpochHead(bytes: Uint8Array): EpochHead {
  const fail = () => new Error('malformed epoch head');
  if (bytes.length < DOMAIN.length + 2) throw fail();
  for (let i = 0; i < DOMAIN.length; i++) if (bytes[i] !== DOMAIN[i]) throw fail();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = DOMAIN.length;
  const nsLen = view.getUint16(at);
  at += 2;
  if (nsLen === 0 || bytes.length !== at + nsLen + 80) throw fail();
  const namespace = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + nsLen));
  at += nsLen;
  const epoch = view.getBigUint64(at);
  const timestamp = view.getBigUint64(at + 72);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER) || timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw fail();
  return {
    namespace,
    epoch: Number(epoch),
    rootHash: new Uint8Array(bytes.subarray(at + 8, at + 40)),
    previousRootHash: new Uint8Array(bytes.subarray(at + 40, at + 72)),
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

/** Returns the head if `signature` by `publicKey` is valid over `bytes`, else throws. */
export function verifyEpochHead(bytes: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): EpochHead {
  if (signature.length !== 64 || !ed25519.verify(signature, bytes, publicKey)) {
    throw new Error('epoch head signature is invalid');
  }
  return decodeEpochHead(bytes);
}

/** The JSON form served by readers. */
export type EpochHeadJson = {
  namespace: string;
  epoch: number;
  rootHash: string;
  previousRootHash: string;
  timestamp: number;
  /** base64url of the exact signed bytes */
  head: string;
  /** base64url Ed25519 signature over `head` */
  signature: string;
};

export function epochHeadJson(bytes: Uint8Array, signature: Uint8Array): EpochHeadJson {
  const h = decodeEpochHead(bytes);
  return {
    namespace: h.namespace,
    epoch: h.epoch,
    rootHash: bytesToHex(h.rootHash),
    previousRootHash: bytesToHex(h.previousRootHash),
    timestamp: h.timestamp,
    head: Buffer.from(bytes).toString('base64url'),
    signature: Buffer.from(signature).toString('base64url'),
  };
}
