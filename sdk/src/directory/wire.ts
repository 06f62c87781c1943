/**
 * The JSON a directory reader serves (directory-node/src/api/reader.ts), and strict parsers
 * for it: every field checked for type and size, binary fields canonical base64url or
 * lowercase hex. Parsing checks shape only; verify.ts decides what the content proves.
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { MAX_EPOCH_HEAD_BYTES, MAX_NAMESPACE_BYTES } from './epoch-head.ts';
import { DirectoryVerificationError } from './errors.ts';

/** A signed epoch head as served: `head` and `signature` are what counts, the rest is a copy. */
export interface EpochHeadJson {
  namespace: string;
  epoch: number;
  rootHash: string;
  previousRootHash: string;
  timestamp: number;
  /** base64url of the exact signed bytes */
  head: string;
  /** base64url Ed25519 signature over `head` */
  signature: string;
}

/** GET /v1/lookup?username= */
export interface LookupResponseJson {
  epoch: EpochHeadJson;
  version: number;
  /** base64url of akd's protobuf LookupProof */
  proof: string;
}

export type HistoryParamsJson = { kind: 'complete' } | { kind: 'most-recent'; n: number };

/** GET /v1/history?username=[&mostRecent=N] */
export interface HistoryResponseJson {
  epoch: EpochHeadJson;
  params: HistoryParamsJson;
  /** base64url of akd's protobuf HistoryProof */
  proof: string;
}

export interface AuditBlobJson {
  /** EPOCH/hex(previous root)/hex(root) */
  name: string;
  previousRootHash: string;
  rootHash: string;
  /** base64url of akd's protobuf SingleAppendOnlyProof */
  proof: string;
}

/** GET /v1/audit/{epoch} */
export interface AuditResponseJson {
  epoch: number;
  blobs: AuditBlobJson[];
}

export interface SignedEpochHead {
  readonly head: Uint8Array;
  readonly signature: Uint8Array;
  /** the JSON copy of the head's fields, to be checked against the signed bytes */
  readonly claimed: Omit<EpochHeadJson, 'head' | 'signature'>;
}

export interface ParsedLookupResponse {
  readonly head: SignedEpochHead;
  readonly version: number;
  readonly proof: Uint8Array;
}

export interface ParsedHistoryResponse {
  readonly head: SignedEpochHead;
  readonly params: HistoryParamsJson;
  readonly proof: Uint8Array;
}

export interface ParsedAuditBlob {
  readonly name: string;
  readonly previousRootHash: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly proof: Uint8Array;
}

export interface ParsedAuditResponse {
  readonly epoch: number;
  readonly blobs: readonly ParsedAuditBlob[];
}

/** Most audit blobs accepted for one epoch (more than one already means a fork). */
export const MAX_AUDIT_BLOBS = 16;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX32 = /^[0-9a-f]{64}$/;

function bad(what: string, why: string): DirectoryVerificationError {
  return new DirectoryVerificationError('response', `${what}: ${why}`);
}

function object(raw: unknown, what: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(what, 'not a JSON object');
  const extra = Object.keys(raw).find((k) => !fields.includes(k));
  if (extra !== undefined) throw bad(what, `unexpected field ${JSON.stringify(extra.slice(0, 64))}`);
  return raw as Record<string, unknown>;
}

function integer(raw: unknown, what: string, min: number): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min) {
    throw bad(what, `not an integer >= ${min}`);
  }
  return raw;
}

function string(raw: unknown, what: string, maxLength: number): string {
  if (typeof raw !== 'string') throw bad(what, 'not a string');
  if (raw.length > maxLength) throw bad(what, `longer than ${maxLength} characters`);
  return raw;
}

/** Canonical unpadded base64url of at most `maxBytes` bytes. */
export function base64url(raw: unknown, what: string, maxBytes: number): Uint8Array {
  const s = string(raw, what, Math.ceil((maxBytes * 4) / 3));
  if (!BASE64URL.test(s) || s.length % 4 === 1) throw bad(what, 'not base64url');
  const bytes = new Uint8Array(Buffer.from(s, 'base64url'));
  if (Buffer.from(bytes).toString('base64url') !== s) throw bad(what, 'not canonical base64url');
  return bytes;
}

function hex32(raw: unknown, what: string): string {
  if (typeof raw !== 'string' || !HEX32.test(raw)) throw bad(what, 'not 64 lowercase hex characters');
  return raw;
}

export function parseEpochHeadJson(raw: unknown, what = 'epoch head'): SignedEpochHead {
  const o = object(raw, what, [
    'namespace',
    'epoch',
    'rootHash',
    'previousRootHash',
    'timestamp',
    'head',
    'signature',
  ]);
  return {
    head: base64url(o.head, `${what}: head`, MAX_EPOCH_HEAD_BYTES),
    signature: base64url(o.signature, `${what}: signature`, 64),
    claimed: {
      namespace: string(o.namespace, `${what}: namespace`, MAX_NAMESPACE_BYTES),
      epoch: integer(o.epoch, `${what}: epoch`, 0),
      rootHash: hex32(o.rootHash, `${what}: rootHash`),
      previousRootHash: hex32(o.previousRootHash, `${what}: previousRootHash`),
      timestamp: integer(o.timestamp, `${what}: timestamp`, 0),
    },
  };
}

export function parseLookupResponse(raw: unknown, maxProofBytes: number): ParsedLookupResponse {
  const o = object(raw, 'lookup response', ['epoch', 'version', 'proof']);
  return {
    head: parseEpochHeadJson(o.epoch, 'lookup response: epoch'),
    version: integer(o.version, 'lookup response: version', 1),
    proof: base64url(o.proof, 'lookup response: proof', maxProofBytes),
  };
}

function historyParams(raw: unknown): HistoryParamsJson {
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (kind === 'complete') {
    object(raw, 'history response: params', ['kind']);
    return { kind };
  }
  if (kind === 'most-recent') {
    const o = object(raw, 'history response: params', ['kind', 'n']);
    return { kind, n: integer(o.n, 'history response: params.n', 1) };
  }
  throw bad('history response: params', 'kind is neither "complete" nor "most-recent"');
}

export function parseHistoryResponse(raw: unknown, maxProofBytes: number): ParsedHistoryResponse {
  const o = object(raw, 'history response', ['epoch', 'params', 'proof']);
  return {
    head: parseEpochHeadJson(o.epoch, 'history response: epoch'),
    params: historyParams(o.params),
    proof: base64url(o.proof, 'history response: proof', maxProofBytes),
  };
}

export function parseAuditResponse(raw: unknown, maxProofBytes: number): ParsedAuditResponse {
  const o = object(raw, 'audit response', ['epoch', 'blobs']);
  const epoch = integer(o.epoch, 'audit response: epoch', 1);
  if (!Array.isArray(o.blobs)) throw bad('audit response: blobs', 'not an array');
  if (o.blobs.length > MAX_AUDIT_BLOBS) throw bad('audit response: blobs', `more than ${MAX_AUDIT_BLOBS}`);
  const blobs = o.blobs.map((b: unknown, i) => {
    const what = `audit response: blob ${i}`;
    const x = object(b, what, ['name', 'previousRootHash', 'rootHash', 'proof']);
    return {
      name: string(x.name, `${what}: name`, 200),
      previousRootHash: hexToBytes(hex32(x.previousRootHash, `${what}: previousRootHash`)),
      rootHash: hexToBytes(hex32(x.rootHash, `${what}: rootHash`)),
      proof: base64url(x.proof, `${what}: proof`, maxProofBytes),
    };
  });
  return { epoch, blobs };
}
