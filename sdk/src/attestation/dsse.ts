// DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1) with Ed25519, and the witness
// countersignature, which is itself a DSSE envelope over a small payload that names the operator's
// envelope and signature. Formats: FORMAT.md beside this file.
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalJson, canonicalJsonBytes, parseJsonBytes } from './canonical-json.ts';
import { keyIdOf, type Signer, verifyEd25519 } from './ed25519.ts';
import { AttestationError } from './errors.ts';
import { array, base64Bytes, formatTimestamp, HEX32, object, string, timestamp } from './strict.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const COUNTERSIGNATURE_PAYLOAD_TYPE = 'application/vnd.keyfleet.countersignature+json';
export const MAX_COUNTERSIGNATURE_PAYLOAD_BYTES = 1024;
/** We sign with exactly one key per envelope; a few more are tolerated when decoding. */
export const MAX_SIGNATURES = 4;

export interface DsseSignature {
  /** hex SHA-256 of the signer's raw Ed25519 public key */
  readonly keyid: string;
  /** standard base64 of the 64-byte signature */
  readonly sig: string;
}

export interface DsseEnvelope {
  /** standard base64 of the payload bytes */
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: readonly DsseSignature[];
}

const encoder = new TextEncoder();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

export function signEnvelope(payloadType: string, payload: Uint8Array, signer: Signer): DsseEnvelope {
  return {
    payload: b64(payload),
    payloadType,
    signatures: [{ keyid: keyIdOf(signer.publicKey), sig: b64(signer.sign(pae(payloadType, payload))) }],
  };
}

/** `sha256:<hex>` over the envelope's canonical JSON: the digest logged, chained and countersigned. */
export function envelopeDigest(envelope: DsseEnvelope): Uint8Array {
  return sha256(canonicalJsonBytes(envelope));
}

export function formatDigest(digest: Uint8Array): string {
  return `sha256:${Buffer.from(digest).toString('hex')}`;
}

/** Strict shape of an envelope (as JSON already parsed); payload at most `maxPayloadBytes`. */
export function decodeEnvelope(value: unknown, field: string, maxPayloadBytes: number): DsseEnvelope {
  const e = object(value, field, ['payload', 'payloadType', 'signatures']);
  base64Bytes(e.payload, `${field}.payload`, maxPayloadBytes);
  const payloadType = string(e.payloadType, `${field}.payloadType`, /^[\x21-\x7e]+$/, 128);
  const signatures = array(e.signatures, `${field}.signatures`, 1, MAX_SIGNATURES).map((s, i) => {
    const at = `${field}.signatures[${i}]`;
    const o = object(s, at, ['keyid', 'sig']);
    const keyid = string(o.keyid, `${at}.keyid`, HEX32, 64);
    const sig = base64Bytes(o.sig, `${at}.sig`, 64);
    if (sig.length !== 64) throw new AttestationError(`${at}.sig`, 'an Ed25519 signature is 64 bytes');
    return { keyid, sig: o.sig as string };
  });
  return { payload: e.payload as string, payloadType, signatures };
}

export function envelopePayload(envelope: DsseEnvelope): Uint8Array {
  return new Uint8Array(Buffer.from(envelope.payload, 'base64'));
}

export interface VerifiedSignature {
  readonly keyid: string;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * The first signature of `envelope` that verifies under one of `trustedKeys` (keyids are hints;
 * the key itself decides). Throws AttestationError(field) when none does, saying why.
 */
export function verifyEnvelope(
  envelope: DsseEnvelope,
  expectedPayloadType: string,
  trustedKeys: readonly Uint8Array[],
  field: string,
  signerRole: string,
): VerifiedSignature {
  if (envelope.payloadType !== expectedPayloadType) {
    throw new AttestationError(`${field}.payloadType`, `must be ${expectedPayloadType}`);
  }
  const message = pae(envelope.payloadType, envelopePayload(envelope));
  let knownKey = false;
  for (const s of envelope.signatures) {
    const key = trustedKeys.find((k) => keyIdOf(k) === s.keyid);
    if (key === undefined) continue;
    knownKey = true;
    const signature = new Uint8Array(Buffer.from(s.sig, 'base64'));
    if (verifyEd25519(key, message, signature)) return { keyid: s.keyid, publicKey: key, signature };
  }
  throw new AttestationError(
    field,
    knownKey
      ? `the signature by the trusted ${signerRole} key does not verify`
      : `not signed by a trusted ${signerRole} key`,
  );
}

/** What a witness signs: it saw this operator signature on this envelope at this time. */
export interface CountersignaturePayload {
  readonly envelopeDigest: string;
  readonly operatorKeyid: string;
  /** standard base64 of the operator's 64-byte signature, exactly as in the envelope */
  readonly operatorSignature: string;
  readonly witnessedAt: string;
}

/**
 * The witness's countersignature over the operator's (first) signature of `envelope`. The
 * witness calls this after checking the operator signature with verifyEnvelope().
 */
export function countersign(envelope: DsseEnvelope, witness: Signer, witnessedAtMs: number): DsseEnvelope {
  const operator = envelope.signatures[0];
  if (operator === undefined) throw new TypeError('the envelope has no signature to countersign');
  const body: CountersignaturePayload = {
    envelopeDigest: formatDigest(envelopeDigest(envelope)),
    operatorKeyid: operator.keyid,
    operatorSignature: operator.sig,
    witnessedAt: formatTimestamp(witnessedAtMs),
  };
  return signEnvelope(COUNTERSIGNATURE_PAYLOAD_TYPE, encoder.encode(canonicalJson(body)), witness);
}

export function decodeCountersignaturePayload(
  bytes: Uint8Array,
): CountersignaturePayload & { witnessedAtMs: number } {
  const f = 'countersignature.payload';
  const p = object(parseJsonBytes(bytes, MAX_COUNTERSIGNATURE_PAYLOAD_BYTES, f), f, [
    'envelopeDigest',
    'operatorKeyid',
    'operatorSignature',
    'witnessedAt',
  ]);
  const witnessedAt = timestamp(p.witnessedAt, `${f}.witnessedAt`);
  const sig = base64Bytes(p.operatorSignature, `${f}.operatorSignature`, 64);
  if (sig.length !== 64) throw new AttestationError(`${f}.operatorSignature`, 'must be 64 bytes');
  const decoded: CountersignaturePayload = {
    envelopeDigest: string(p.envelopeDigest, `${f}.envelopeDigest`, /^sha256:[0-9a-f]{64}$/, 71),
    operatorKeyid: string(p.operatorKeyid, `${f}.operatorKeyid`, HEX32, 64),
    operatorSignature: p.operatorSignature as string,
    witnessedAt: witnessedAt.text,
  };
  if (canonicalJson(decoded) !== Buffer.from(bytes).toString('utf8')) {
    throw new AttestationError(f, 'is not in canonical JSON form');
  }
  return { ...decoded, witnessedAtMs: witnessedAt.ms };
}
