// The escrow protocol's cryptographic conventions, shared by the client (which checks them) and the
// vault HSM (which produces them): OPAQUE identifiers, session-key derivations, associated data,
// and the transcripts a member signs with its HSM identity key. vault-node/src/escrow/PROTOCOL.md
// describes the flow these belong to.

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ByteWriter } from '../bytes.ts';
import { context, deriveKey } from '../hsm/aead.ts';
import { base64url } from '../hsm/bytes.ts';

export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const BACKUP_KEY_BYTES = 32;
/** Chosen by the HSM at registration start; part of the OPRF key's credential identifier. */
export const CREDENTIAL_NONCE_BYTES = 16;
/** credential nonce (16) || HMAC tag (32). */
export const TICKET_BYTES = 48;
export const LOGIN_ID_BYTES = 32;
export const SESSION_ID_BYTES = 32;
export const SESSION_TAG_BYTES = 32;
/** A release is always flag (1) || key (32), so its length does not say whether a key is stored. */
export const RELEASE_PLAINTEXT_BYTES = 1 + BACKUP_KEY_BYTES;
export const SIGNATURE_BYTES = 64;
/** SHA-256 digests in acknowledgements (request, registration, command). */
export const DIGEST_BYTES = 32;
/** A fresh random value the client puts into each request whose acknowledgement it wants signed. */
export const ACK_NONCE_BYTES = 32;

/** Sizes of the OPAQUE messages of @serenity-kit/opaque's suite (ristretto255, SHA-512). */
export const OPAQUE_SIZES = {
  registrationRequest: 32,
  registrationResponse: 64,
  registrationRecord: 192,
  startLoginRequest: 96,
  loginResponse: 320,
  finishLoginRequest: 64,
  sessionKey: 64,
  serverPublicKey: 32,
} as const;

/**
 * The OPAQUE identities bound into the envelope and the key exchange: the user id, and the fleet
 * as the server, so a record made for one fleet never completes a login with another.
 */
export function opaqueIdentifiers(fleetId: string, userId: string): { client: string; server: string } {
  return { client: userId, server: `keyfleet:${fleetId}` };
}

/**
 * The credential identifier the OPRF key is derived from. The nonce is fresh per registration and
 * chosen by the HSM, so registration start can never act as an uncounted OPRF oracle for a
 * registered (or future) record: see PROTOCOL.md, "Why registration start is not an oracle".
 * User ids never contain '.', so the split is unambiguous.
 */
export function credentialIdentifier(userId: string, credentialNonce: Uint8Array): string {
  return `${userId}.${base64url(credentialNonce)}`;
}

/** Names a registration: authorisations and the sealed backup key are bound to it. */
export function recordDigest(credentialNonce: Uint8Array, registrationRecord: Uint8Array): Uint8Array {
  return sha256(context('keyfleet/v1/escrow/record', credentialNonce, registrationRecord));
}

export interface SessionContext {
  readonly fleetId: string;
  readonly userId: string;
  readonly sessionId: Uint8Array;
}

export interface SessionKeys {
  /** Encrypts the client's backup key upload. */
  readonly upload: Uint8Array;
  /** Encrypts the member's release of the backup key. */
  readonly release: Uint8Array;
  /** MACs authorisations (delete, replace). */
  readonly auth: Uint8Array;
}

/** Derived from the OPAQUE session key; each key is bound to fleet, user and session id. */
export function sessionKeys(sessionKey: Uint8Array, c: SessionContext): SessionKeys {
  const k = (use: string) =>
    deriveKey(sessionKey, 'keyfleet/v1/escrow/session', context(use, c.fleetId, c.userId, c.sessionId));
  return { upload: k('upload'), release: k('release'), auth: k('auth') };
}

export function uploadAd(c: SessionContext): Uint8Array {
  return context('keyfleet/v1/escrow/upload', c.fleetId, c.userId, c.sessionId);
}

export function releaseAd(c: SessionContext): Uint8Array {
  return context('keyfleet/v1/escrow/release', c.fleetId, c.userId, c.sessionId);
}

export type SessionAction = 'delete' | 'replace';

/** What a session authorisation covers: the action and its payload, under the session's auth key. */
export function sessionTag(authKey: Uint8Array, action: SessionAction, payload: Uint8Array): Uint8Array {
  return hmac(sha256, authKey, context('keyfleet/v1/escrow/authorize', action, payload));
}

/** The payload a `replace` authorisation covers: the new registration. */
export function replacePayload(ticket: Uint8Array, registrationRecord: Uint8Array): Uint8Array {
  return context(ticket, registrationRecord);
}

// Transcripts a member signs with its HSM identity key (Purpose.escrowResponse). Each starts with
// its step's name; every field is length-prefixed.

export interface RegisterStartTranscript {
  readonly fleetId: string;
  readonly member: string;
  readonly userId: string;
  readonly registrationRequest: Uint8Array;
  readonly registrationResponse: Uint8Array;
  readonly ticket: Uint8Array;
}

export function registerStartTranscript(t: RegisterStartTranscript): Uint8Array {
  return new ByteWriter(256)
    .string8('register-start')
    .string8(t.fleetId)
    .string8(t.member)
    .string8(t.userId)
    .bytes16(t.registrationRequest)
    .bytes16(t.registrationResponse)
    .bytes16(t.ticket)
    .finish();
}

export interface RecoverStartTranscript {
  readonly fleetId: string;
  readonly member: string;
  readonly userId: string;
  readonly startLoginRequest: Uint8Array;
  readonly loginResponse: Uint8Array;
  readonly loginId: Uint8Array;
}

export function recoverStartTranscript(t: RecoverStartTranscript): Uint8Array {
  return new ByteWriter(640)
    .string8('recover-start')
    .string8(t.fleetId)
    .string8(t.member)
    .string8(t.userId)
    .bytes16(t.startLoginRequest)
    .bytes16(t.loginResponse)
    .bytes16(t.loginId)
    .finish();
}

export interface RecoverFinishTranscript {
  readonly fleetId: string;
  readonly member: string;
  readonly userId: string;
  /** SHA-256 of the recover-start transcript of the same login. */
  readonly startTranscriptHash: Uint8Array;
  readonly finishLoginRequest: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly releaseNonce: Uint8Array;
  readonly releaseCiphertext: Uint8Array;
}

export function recoverFinishTranscript(t: RecoverFinishTranscript): Uint8Array {
  return new ByteWriter(320)
    .string8('recover-finish')
    .string8(t.fleetId)
    .string8(t.member)
    .string8(t.userId)
    .bytes16(t.startTranscriptHash)
    .bytes16(t.finishLoginRequest)
    .bytes16(t.sessionId)
    .bytes16(t.releaseNonce)
    .bytes16(t.releaseCiphertext)
    .finish();
}

/** What a commit acknowledgement says was committed (PROTOCOL.md, "Signed acknowledgements"). */
export type CommitOperation = 'register' | 'replace' | 'backup-key' | 'delete';

export interface CommitAckTranscript {
  readonly fleetId: string;
  readonly member: string;
  readonly userId: string;
  readonly operation: CommitOperation;
  /** SHA-256 of the client's request (requestDigest in wire.ts), which carries the client's ack nonce. */
  readonly requestHash: Uint8Array;
  /** The registration the committed state belongs to (the new one for register and replace). */
  readonly recordDigest: Uint8Array;
  /** SHA-256 of the escrow command the member committed to the log (for audit against the log). */
  readonly commandDigest: Uint8Array;
}

/**
 * Signed by the answering member's HSM only after the command committed: the client takes a 2xx
 * for register, replace, backup-key upload or delete as "committed" only with this signature.
 */
export function commitAckTranscript(t: CommitAckTranscript): Uint8Array {
  return new ByteWriter(256)
    .string8('commit-ack')
    .string8(t.operation)
    .string8(t.fleetId)
    .string8(t.member)
    .string8(t.userId)
    .bytes16(t.requestHash)
    .bytes16(t.recordDigest)
    .bytes16(t.commandDigest)
    .finish();
}
