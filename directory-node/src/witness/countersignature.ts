// The witness's countersignature, shaped like Cloudflare Plexi's auditor signature: an Ed25519
// signature over the protobuf encoding of
//   message SignatureMessage { uint32 ciphersuite = 1; string namespace = 2;
//                              uint64 timestamp = 3; uint64 epoch = 4; bytes digest = 5; }
// where digest is the epoch's root hash and timestamp is milliseconds since the Unix epoch.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { ed25519 } from '@noble/curves/ed25519.js';

export const CIPHERSUITE_ED25519_PROTOBUF = 0x0001;
export const CIPHERSUITE_NAME = 'ed25519(protobuf)';

export type SignatureMessage = {
  readonly ciphersuite: number;
  readonly namespace: string;
  readonly timestamp: number;
  readonly epoch: number;
  readonly digest: Uint8Array;
};

export function encodeSignatureMessage(m: SignatureMessage): Uint8Array {
  return new BinaryWriter()
    .tag(1, WireType.Varint)
    .uint32(m.ciphersuite)
    .tag(2, WireType.LengthDelimited)
    .string(m.namespace)
    .tag(3, WireType.Varint)
    .uint64(m.timestamp)
    .tag(4, WireType.Varint)
    .uint64(m.epoch)
    .tag(5, WireType.LengthDelimited)
    .bytes(m.digest)
    .finish();
}

/** Strict decoder (known fields only, each once) for clients checking a countersignature. */
export function decodeSignatureMessage(bytes: Uint8Array): SignatureMessage {
  if (bytes.length > 1024) throw new Error('signature message too large');
  const r = new BinaryReader(bytes);
  const seen = new Set<number>();
  const m: {
    ciphersuite?: number;
    namespace?: string;
    timestamp?: number;
    epoch?: number;
    digest?: Uint8Array;
  } = {};
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (seen.has(field)) throw new Error(`field ${field} repeated`);
    seen.add(field);
    if (field === 1 && wire === WireType.Varint) m.ciphersuite = r.uint32();
    else if (field === 2 && wire === WireType.LengthDelimited) m.namespace = r.string();
    else if (field === 3 && wire === WireType.Varint) m.timestamp = Number(r.uint64());
    else if (field === 4 && wire === WireType.Varint) m.epoch = Number(r.uint64());
    else if (field === 5 && wire === WireType.LengthDelimited) m.digest = r.bytes();
    else throw new Error(`unexpected field ${field}`);
  }
  if (
    m.ciphersuite === undefined ||
    m.namespace === undefined ||
    m.timestamp === undefined ||
    m.epoch === undefined ||
    m.digest === undefined
  ) {
    throw new Error('signature message is missing a field');
  }
  return m as SignatureMessage;
}

export function signCountersignature(
  m: SignatureMessage,
  secretKey: Uint8Array,
): { message: Uint8Array; signature: Uint8Array } {
  const message = encodeSignatureMessage(m);
  return { message, signature: ed25519.sign(message, secretKey) };
}

export function verifyCountersignature(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): SignatureMessage {
  if (signature.length !== 64 || !ed25519.verify(signature, message, publicKey))
    throw new Error('countersignature is invalid');
  return decodeSignatureMessage(message);
}
