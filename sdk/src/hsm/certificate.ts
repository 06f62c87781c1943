// The HSM certificate chain (format and rules: CHAIN.md beside this file). A manufacturer CA
// certifies each HSM's Ed25519 identity key and X25519 agreement key for one subject
// {fleet, member, zone}; clients and members verify with the CA public keys they trust.

import { sha256 } from '@noble/hashes/sha2.js';
import { ByteReader, ByteWriter, DecodeError } from '../bytes.ts';
import { concatBytes, ctEqual, utf8 } from './bytes.ts';
import { FLEET_ID_PATTERN, MEMBER_ID_PATTERN, ZONE_PATTERN } from './ids.ts';
import { ed25519PublicKeyProblem, Purpose, verifyWithPurpose, x25519PublicKeyProblem } from './keys.ts';

export const CERTIFICATE_VERSION = 1;
export const REQUEST_VERSION = 1;

export interface Subject {
  readonly fleet: string;
  readonly member: string;
  readonly zone: string;
}

export interface CertificateRequest {
  readonly subject: Subject;
  readonly identityPublicKey: Uint8Array;
  readonly agreementPublicKey: Uint8Array;
}

export interface Certificate extends CertificateRequest {
  /** Unix seconds, inclusive. */
  readonly notBefore: number;
  /** Unix seconds, inclusive. */
  readonly notAfter: number;
  /** caKeyId() of the issuing CA's public key. */
  readonly issuerKeyId: Uint8Array;
  readonly signature: Uint8Array;
  /** The exact bytes this certificate was decoded from. */
  readonly encoded: Uint8Array;
}

export class CertificateError extends Error {
  override name = 'CertificateError';
}

/** SHA-256("keyfleet/v1/ca-key-id" || 0x00 || CA public key): names the issuer inside certificates. */
export function caKeyId(caPublicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8('keyfleet/v1/ca-key-id'), new Uint8Array([0]), caPublicKey));
}

function writeRequestBody(w: ByteWriter, r: CertificateRequest): void {
  w.string8(r.subject.fleet).string8(r.subject.member).string8(r.subject.zone);
  w.raw(r.identityPublicKey).raw(r.agreementPublicKey);
}

function readRequestBody(r: ByteReader): CertificateRequest {
  const subject = {
    fleet: r.string8('subject fleet', FLEET_ID_PATTERN),
    member: r.string8('subject member', MEMBER_ID_PATTERN),
    zone: r.string8('subject zone', ZONE_PATTERN),
  };
  const identityPublicKey = r.raw(32, 'identity public key');
  const agreementPublicKey = r.raw(32, 'agreement public key');
  const idProblem = ed25519PublicKeyProblem(identityPublicKey);
  if (idProblem) throw new DecodeError(`identity public key: ${idProblem}`);
  const agProblem = x25519PublicKeyProblem(agreementPublicKey);
  if (agProblem) throw new DecodeError(`agreement public key: ${agProblem}`);
  return { subject, identityPublicKey, agreementPublicKey };
}

/** The bytes a request's signature covers. */
export function certificateRequestTbs(r: CertificateRequest): Uint8Array {
  const w = new ByteWriter(128).u8(REQUEST_VERSION);
  writeRequestBody(w, r);
  return w.finish();
}

export function encodeCertificateRequest(r: CertificateRequest, signature: Uint8Array): Uint8Array {
  if (signature.length !== 64) throw new TypeError('signature must be 64 bytes');
  return concatBytes(certificateRequestTbs(r), signature);
}

/**
 * Decodes a request and checks its proof of possession (the identity key's signature over it).
 * The agreement key is bound by that same signature: the HSM signs only requests it builds from
 * its own slots (see CHAIN.md).
 */
export function verifyCertificateRequest(bytes: Uint8Array): CertificateRequest {
  try {
    const r = new ByteReader(bytes);
    const version = r.u8('version');
    if (version !== REQUEST_VERSION) throw new DecodeError(`unsupported request version ${version}`);
    const req = readRequestBody(r);
    const tbsLength = r.offset;
    const signature = r.raw(64, 'signature');
    r.end('certificate request');
    if (
      !verifyWithPurpose(
        req.identityPublicKey,
        Purpose.certificateRequest,
        bytes.subarray(0, tbsLength),
        signature,
      )
    ) {
      throw new CertificateError('the request is not signed by its identity key (no proof of possession)');
    }
    return req;
  } catch (e) {
    if (e instanceof DecodeError) throw new CertificateError(`malformed certificate request: ${e.message}`);
    throw e;
  }
}

export interface CertificateFields extends CertificateRequest {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuerKeyId: Uint8Array;
}

/** The bytes the CA signs. */
export function certificateTbs(c: CertificateFields): Uint8Array {
  if (c.issuerKeyId.length !== 32) throw new TypeError('issuerKeyId must be 32 bytes');
  if (!(c.notBefore <= c.notAfter)) throw new RangeError('notBefore must not be after notAfter');
  const w = new ByteWriter(192).u8(CERTIFICATE_VERSION);
  writeRequestBody(w, c);
  return w.u64(c.notBefore).u64(c.notAfter).raw(c.issuerKeyId).finish();
}

/** Structure and key checks only; verifyCertificate() is what decides trust. */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  try {
    const r = new ByteReader(bytes);
    const version = r.u8('version');
    if (version !== CERTIFICATE_VERSION) throw new DecodeError(`unsupported certificate version ${version}`);
    const body = readRequestBody(r);
    const notBefore = r.u64('notBefore');
    const notAfter = r.u64('notAfter');
    if (notBefore > notAfter) throw new DecodeError('notBefore is after notAfter');
    const issuerKeyId = r.raw(32, 'issuer key id');
    const signature = r.raw(64, 'signature');
    r.end('certificate');
    return { ...body, notBefore, notAfter, issuerKeyId, signature, encoded: bytes.slice() };
  } catch (e) {
    if (e instanceof DecodeError) throw new CertificateError(`malformed certificate: ${e.message}`);
    throw e;
  }
}

export interface VerifyCertificateOptions {
  /** Public keys of the CAs to trust (the "CA bundle"). */
  readonly trustAnchors: readonly Uint8Array[];
  /** Unix seconds. */
  readonly now: number;
  /** When set, the subject must be of this fleet. */
  readonly fleet?: string;
  /** When set, the subject must be this member. */
  readonly member?: string;
}

/** Decodes `bytes` and checks issuer, signature, validity and (optionally) subject; throws why not. */
export function verifyCertificate(bytes: Uint8Array, o: VerifyCertificateOptions): Certificate {
  const cert = decodeCertificate(bytes);
  const anchor = o.trustAnchors.find((k) => ctEqual(caKeyId(k), cert.issuerKeyId));
  if (!anchor) throw new CertificateError('issued by a CA that is not in the trusted set');
  const tbs = bytes.subarray(0, bytes.length - 64);
  if (!verifyWithPurpose(anchor, Purpose.certificate, tbs, cert.signature)) {
    throw new CertificateError('the CA signature does not verify');
  }
  if (o.now < cert.notBefore) throw new CertificateError(`not valid before ${cert.notBefore} (now ${o.now})`);
  if (o.now > cert.notAfter) throw new CertificateError(`expired at ${cert.notAfter} (now ${o.now})`);
  if (o.fleet !== undefined && cert.subject.fleet !== o.fleet) {
    throw new CertificateError(`issued for fleet ${cert.subject.fleet}, expected ${o.fleet}`);
  }
  if (o.member !== undefined && cert.subject.member !== o.member) {
    throw new CertificateError(`issued for member ${cert.subject.member}, expected ${o.member}`);
  }
  return cert;
}

/** The identity keys of the members whose certificates verify, by member id (a client's trusted set). */
export function trustedMembersFromCertificates(
  certificates: readonly Uint8Array[],
  o: VerifyCertificateOptions & { readonly fleet: string },
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const bytes of certificates) {
    const cert = verifyCertificate(bytes, o);
    if (out.has(cert.subject.member)) {
      throw new CertificateError(`two certificates for member ${cert.subject.member}`);
    }
    out.set(cert.subject.member, cert.identityPublicKey);
  }
  return out;
}
