// The key directory's signed epoch head, as directory-node publishes it (its publisher/epoch-head.ts
// makes them; this is the client's verifier, byte-compatible):
//
//   signed bytes = "keyfleet/akd-epoch-head/v1" || u16(len(namespace)) || namespace (UTF-8)
//                  || u64(epoch) || root hash [32] || previous root hash [32] || u64(timestamp ms)
//
// Ed25519 over those bytes, integers big-endian. Served as JSON with the decoded fields beside the
// signed bytes; a verifier trusts only the signed bytes and requires the fields to agree with them.
import { verifyEd25519 } from './ed25519.ts';
import { AttestationError } from './errors.ts';
import { base64urlBytes, HEX32, integer, object, string } from './strict.ts';

const DOMAIN = new TextEncoder().encode('keyfleet/akd-epoch-head/v1');
const MAX_NAMESPACE_BYTES = 253;

export interface EpochHead {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  readonly previousRootHash: Uint8Array;
  /** Unix milliseconds, the publisher's clock. */
  readonly timestamp: number;
}

function decodeSignedHead(bytes: Uint8Array, field: string): EpochHead {
  const fail = (why: string) => new AttestationError(field, `malformed epoch head: ${why}`);
  if (bytes.length < DOMAIN.length + 2) throw fail('too short');
  for (let i = 0; i < DOMAIN.length; i++) if (bytes[i] !== DOMAIN[i]) throw fail('wrong domain tag');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = DOMAIN.length;
  const nsLength = view.getUint16(at);
  at += 2;
  if (nsLength === 0 || nsLength > MAX_NAMESPACE_BYTES || bytes.length !== at + nsLength + 80) {
    throw fail('wrong length');
  }
  let namespace: string;
  try {
    namespace = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + nsLength));
  } catch {
    throw fail('namespace is not UTF-8');
  }
  at += nsLength;
  const epoch = view.getBigUint64(at);
  const timestamp = view.getBigUint64(at + 72);
  if (epoch < 1n || epoch > BigInt(Number.MAX_SAFE_INTEGER) || timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fail('epoch or timestamp out of range');
  }
  return {
    namespace,
    epoch: Number(epoch),
    rootHash: bytes.slice(at + 8, at + 40),
    previousRootHash: bytes.slice(at + 40, at + 72),
    timestamp: Number(timestamp),
  };
}

/** The JSON a directory reader serves for an epoch (GET /v1/epochs/N, and inside GET /v1/lookup). */
export interface EpochHeadJson {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: string;
  readonly previousRootHash: string;
  readonly timestamp: number;
  /** base64url of the exact signed bytes */
  readonly head: string;
  /** base64url Ed25519 signature over `head` */
  readonly signature: string;
}

export function decodeEpochHeadJson(value: unknown, field: string): EpochHeadJson {
  const o = object(value, field, [
    'namespace',
    'epoch',
    'rootHash',
    'previousRootHash',
    'timestamp',
    'head',
    'signature',
  ]);
  base64urlBytes(o.head, `${field}.head`, 512);
  const sig = base64urlBytes(o.signature, `${field}.signature`, 64);
  if (sig.length !== 64) throw new AttestationError(`${field}.signature`, 'an Ed25519 signature is 64 bytes');
  return {
    namespace: string(o.namespace, `${field}.namespace`, /^[^\0]{1,253}$/u, 253),
    epoch: integer(o.epoch, `${field}.epoch`, 1, Number.MAX_SAFE_INTEGER),
    rootHash: string(o.rootHash, `${field}.rootHash`, HEX32, 64),
    previousRootHash: string(o.previousRootHash, `${field}.previousRootHash`, HEX32, 64),
    timestamp: integer(o.timestamp, `${field}.timestamp`, 0, Number.MAX_SAFE_INTEGER),
    head: o.head as string,
    signature: o.signature as string,
  };
}

/**
 * Verifies the directory's signature over the head's bytes and that the JSON fields say the same
 * as the signed bytes. Throws AttestationError(field) with the reason.
 */
export function verifyEpochHead(json: EpochHeadJson, signingKey: Uint8Array, field: string): EpochHead {
  const bytes = new Uint8Array(Buffer.from(json.head, 'base64url'));
  const signature = new Uint8Array(Buffer.from(json.signature, 'base64url'));
  if (!verifyEd25519(signingKey, bytes, signature)) {
    throw new AttestationError(field, 'the epoch head is not signed by the trusted directory key');
  }
  const head = decodeSignedHead(bytes, `${field}.head`);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const mismatch =
    json.namespace !== head.namespace
      ? 'namespace'
      : json.epoch !== head.epoch
        ? 'epoch'
        : json.rootHash !== hex(head.rootHash)
          ? 'rootHash'
          : json.previousRootHash !== hex(head.previousRootHash)
            ? 'previousRootHash'
            : json.timestamp !== head.timestamp
              ? 'timestamp'
              : null;
  if (mismatch !== null)
    throw new AttestationError(`${field}.${mismatch}`, 'differs from the signed epoch head');
  return head;
}
