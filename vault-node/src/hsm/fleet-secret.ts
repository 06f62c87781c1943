// Distribution of the fleet secret (the OPAQUE ServerSetup) from the HSM that generated it to each
// other member's HSM, encrypted to the recipient's certified X25519 key and signed by the sender's
// certified identity key. Format of an envelope:
//
//   u8 version (1) | str8 fleet | str8 sender | str8 recipient | bytes16 sender certificate
//   | ephemeral X25519 public key (32) | nonce (24) | bytes16 ciphertext | signature (64)
//
//   shared = X25519(ephemeral secret, recipient agreement key)
//   key    = HKDF-SHA256(shared, salt "keyfleet/v1",
//                        info (fleet-secret, fleet, sender, recipient, ephemeral pub, recipient pub))
//   ciphertext = XChaCha20-Poly1305(key, nonce, ad (fleet-secret, fleet, sender, recipient), secret)
//   signature  = Ed25519(sender identity, Purpose.fleetSecretEnvelope, every byte before it)
//
// The ephemeral key gives each envelope its own key; the signature (with the sender's certificate)
// tells the recipient the secret comes from a certified member of its fleet; the associated data
// binds fleet, sender and recipient, so an envelope re-signed by another member, or presented to
// another recipient, does not open.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal, context, deriveKey } from '@keyfleet/sdk/hsm/aead';
import { FLEET_ID_PATTERN, MEMBER_ID_PATTERN } from '@keyfleet/sdk/hsm/ids';
import { Purpose, rawPublicKey, signWithPurpose, x25519SharedSecret } from '@keyfleet/sdk/hsm/keys';

const VERSION = 1;
const MAX_CERTIFICATE_BYTES = 1024;
const MAX_SECRET_BYTES = 1024;

export interface EnvelopeHeader {
  readonly fleet: string;
  readonly sender: string;
  readonly recipient: string;
}

export interface Envelope extends EnvelopeHeader {
  readonly senderCertificate: Uint8Array;
  readonly ephemeralPublicKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signature: Uint8Array;
  /** The bytes the signature covers. */
  readonly signed: Uint8Array;
}

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

function envelopeKey(
  shared: Uint8Array,
  h: EnvelopeHeader,
  ephemeralPublicKey: Uint8Array,
  recipientPublicKey: Uint8Array,
): Uint8Array {
  return deriveKey(
    shared,
    'keyfleet/v1',
    context('fleet-secret', h.fleet, h.sender, h.recipient, ephemeralPublicKey, recipientPublicKey),
  );
}

function envelopeAd(h: EnvelopeHeader): Uint8Array {
  return context('fleet-secret', h.fleet, h.sender, h.recipient);
}

export interface SealInput extends EnvelopeHeader {
  readonly senderIdentity: KeyObject;
  readonly senderCertificate: Uint8Array;
  /** From the recipient's verified certificate. */
  readonly recipientAgreementKey: Uint8Array;
  readonly secret: Uint8Array;
  readonly nonce: Uint8Array;
}

export function sealEnvelope(i: SealInput): Uint8Array {
  const eph = generateKeyPairSync('x25519');
  const ephemeralPublicKey = rawPublicKey(eph.publicKey);
  const key = envelopeKey(
    x25519SharedSecret(eph.privateKey, i.recipientAgreementKey),
    i,
    ephemeralPublicKey,
    i.recipientAgreementKey,
  );
  const ciphertext = aeadSeal(key, i.nonce, envelopeAd(i), i.secret);
  key.fill(0);
  const signed = new ByteWriter(512)
    .u8(VERSION)
    .string8(i.fleet)
    .string8(i.sender)
    .string8(i.recipient)
    .bytes16(i.senderCertificate)
    .raw(ephemeralPublicKey)
    .raw(i.nonce)
    .bytes16(ciphertext)
    .finish();
  return new ByteWriter(signed.length + 64)
    .raw(signed)
    .raw(signWithPurpose(i.senderIdentity, Purpose.fleetSecretEnvelope, signed))
    .finish();
}

/** Structure only; the caller verifies the certificate and signature before opening. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  try {
    const r = new ByteReader(bytes);
    const version = r.u8('version');
    if (version !== VERSION) throw new DecodeError(`unsupported envelope version ${version}`);
    const fleet = r.string8('fleet', FLEET_ID_PATTERN);
    const sender = r.string8('sender', MEMBER_ID_PATTERN);
    const recipient = r.string8('recipient', MEMBER_ID_PATTERN);
    const senderCertificate = r.bytes16('sender certificate', MAX_CERTIFICATE_BYTES);
    const ephemeralPublicKey = r.raw(32, 'ephemeral public key');
    const nonce = r.raw(AEAD_NONCE_BYTES, 'nonce');
    const ciphertext = r.bytes16('ciphertext', MAX_SECRET_BYTES);
    const signedLength = r.offset;
    const signature = r.raw(64, 'signature');
    r.end('envelope');
    return {
      fleet,
      sender,
      recipient,
      senderCertificate,
      ephemeralPublicKey,
      nonce,
      ciphertext,
      signature,
      signed: bytes.slice(0, signedLength),
    };
  } catch (e) {
    if (e instanceof DecodeError) throw new EnvelopeError(`malformed fleet secret envelope: ${e.message}`);
    throw e;
  }
}

/** Decrypts an envelope whose sender the caller has already authenticated. */
export function openEnvelope(e: Envelope, recipientAgreement: KeyObject): Uint8Array {
  const recipientPublicKey = rawPublicKey(recipientAgreement);
  const key = envelopeKey(
    x25519SharedSecret(recipientAgreement, e.ephemeralPublicKey),
    e,
    e.ephemeralPublicKey,
    recipientPublicKey,
  );
  const secret = aeadOpen(key, e.nonce, envelopeAd(e), e.ciphertext);
  key.fill(0);
  if (!secret) throw new EnvelopeError("the envelope does not decrypt with this member's agreement key");
  return secret;
}
