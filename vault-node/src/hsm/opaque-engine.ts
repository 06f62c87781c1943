// The OPAQUE server and the escrow's session keys, inside the HSM. Constructed only by SoftwareHsm
// from an 'opaque-setup' slot and reachable only through its private field: the ServerSetup, the
// login states between start and finish, the session keys and the key that seals backup keys never
// leave this object. What goes out: OPAQUE messages, opaque handles (login and session ids),
// signatures, and ciphertexts (the sealed backup key, and its release under a session key).
//
// Login states and sessions live in memory with a short TTL: they belong to the member (the Raft
// leader) that ran the start, and die with it, which is what PROTOCOL.md relies on.

import { randomBytes } from 'node:crypto';
import {
  BACKUP_KEY_BYTES,
  type CommitAckTranscript,
  CREDENTIAL_NONCE_BYTES,
  commitAckTranscript,
  credentialIdentifier,
  LOGIN_ID_BYTES,
  OPAQUE_SIZES,
  opaqueIdentifiers,
  RELEASE_PLAINTEXT_BYTES,
  recordDigest,
  recoverFinishTranscript,
  recoverStartTranscript,
  registerStartTranscript,
  releaseAd,
  replacePayload,
  SESSION_ID_BYTES,
  type SessionKeys,
  sessionKeys,
  sessionTag,
  TICKET_BYTES,
  uploadAd,
} from '@keyfleet/sdk/backup/crypto';
import {
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  aeadOpen,
  aeadSeal,
  context,
  deriveKey,
} from '@keyfleet/sdk/hsm/aead';
import { base64url, concatBytes, ctEqual, fromBase64url } from '@keyfleet/sdk/hsm/bytes';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as opaque from '@serenity-kit/opaque';
import { type OpaqueLoginPool, StartLoginRefused, sharedLoginPool } from './opaque-login-pool.ts';

/** nonce (24) || XChaCha20-Poly1305(backup key (32)) with its tag (16). */
export const SEALED_BACKUP_KEY_BYTES = AEAD_NONCE_BYTES + BACKUP_KEY_BYTES + AEAD_TAG_BYTES;

export class HsmBusyError extends Error {
  override name = 'HsmBusyError';
}

/** A request the OPAQUE library refused (a malformed message from the client). */
export class HsmInputError extends Error {
  override name = 'HsmInputError';
}

export interface OpaqueEngineOptions {
  readonly fleetId: string;
  readonly memberId: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Signs an escrow transcript with the HSM identity key (Purpose.escrowResponse). */
  readonly signTranscript: (transcript: Uint8Array) => Uint8Array;
  readonly loginTtlMs: number;
  readonly sessionTtlMs: number;
  readonly maxPending: number;
  /** Where server.startLogin runs (default: the process's worker pool, opaque-login-pool.ts). */
  readonly loginPool?: OpaqueLoginPool;
}

interface PendingLogin {
  readonly userId: string;
  readonly recordDigest: Uint8Array;
  readonly serverLoginState: string;
  readonly startTranscriptHash: Uint8Array;
  readonly expiresAt: number;
}

interface Session {
  readonly userId: string;
  readonly sessionId: Uint8Array;
  readonly recordDigest: Uint8Array;
  readonly keys: SessionKeys;
  readonly startTranscriptHash: Uint8Array;
  readonly finishLoginRequest: Uint8Array;
  readonly expiresAt: number;
  released: boolean;
}

/**
 * Drops expired entries (insertion order is expiry order: one TTL per map) and enforces the cap,
 * counting `starting` entries that are being computed and not in the map yet.
 */
function admit<T extends { expiresAt: number }>(
  map: Map<string, T>,
  now: number,
  max: number,
  starting = 0,
): void {
  for (const [k, v] of map) {
    if (v.expiresAt > now) break;
    map.delete(k);
  }
  if (map.size + starting >= max)
    throw new HsmBusyError(`too many logins in progress (${map.size + starting}); try again shortly`);
}

function live<T extends { expiresAt: number }>(map: Map<string, T>, id: Uint8Array, now: number): T | null {
  const key = base64url(id);
  const v = map.get(key);
  if (!v) return null;
  if (v.expiresAt <= now) {
    map.delete(key);
    return null;
  }
  return v;
}

function callOpaque<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new HsmInputError(`${what}: ${(e as Error).message}`);
  }
}

function bytesOf(s: string, n: number, what: string): Uint8Array {
  const b = fromBase64url(s);
  if (!b || b.length !== n) throw new Error(`the OPAQUE library returned a malformed ${what}`);
  return b;
}

export class OpaqueEngine {
  readonly #setup: string;
  readonly #ticketKey: Uint8Array;
  readonly #sealKey: Uint8Array;
  readonly #o: OpaqueEngineOptions;
  readonly #logins = new Map<string, PendingLogin>();
  readonly #sessions = new Map<string, Session>();
  readonly #pool: OpaqueLoginPool;
  /** startLogin calls on the pool whose login state is not in #logins yet (they count against the cap). */
  #starting = 0;
  readonly publicKey: Uint8Array;

  /** `setup`: the 128-byte ServerSetup. Throws when it is not one. Needs `await opaque.ready`. */
  constructor(setup: Uint8Array, o: OpaqueEngineOptions) {
    this.#setup = base64url(setup);
    this.publicKey = bytesOf(
      callOpaque('fleet secret', () => opaque.server.getPublicKey(this.#setup)),
      OPAQUE_SIZES.serverPublicKey,
      'server public key',
    );
    this.#ticketKey = deriveKey(setup, 'keyfleet/v1', context('escrow/registration-ticket', o.fleetId));
    this.#sealKey = deriveKey(setup, 'keyfleet/v1', context('escrow/backup-key-seal', o.fleetId));
    this.#o = o;
    this.#pool = o.loginPool ?? sharedLoginPool();
  }

  #ticketTag(userId: string, nonce: Uint8Array): Uint8Array {
    return hmac(sha256, this.#ticketKey, context('ticket', this.#o.fleetId, userId, nonce));
  }

  /** createRegistrationResponse under a fresh credential nonce, returned in a MACed ticket. */
  registrationResponse(
    userId: string,
    registrationRequest: Uint8Array,
  ): { ticket: Uint8Array; registrationResponse: Uint8Array; signature: Uint8Array } {
    const nonce = new Uint8Array(randomBytes(CREDENTIAL_NONCE_BYTES));
    const ticket = concatBytes(nonce, this.#ticketTag(userId, nonce));
    const { registrationResponse } = callOpaque('registrationRequest', () =>
      opaque.server.createRegistrationResponse({
        serverSetup: this.#setup,
        userIdentifier: credentialIdentifier(userId, nonce),
        registrationRequest: base64url(registrationRequest),
      }),
    );
    const response = bytesOf(
      registrationResponse,
      OPAQUE_SIZES.registrationResponse,
      'registration response',
    );
    const signature = this.#o.signTranscript(
      registerStartTranscript({
        fleetId: this.#o.fleetId,
        member: this.#o.memberId,
        userId,
        registrationRequest,
        registrationResponse: response,
        ticket,
      }),
    );
    return { ticket, registrationResponse: response, signature };
  }

  /** The credential nonce of a ticket this fleet issued for `userId`, or null. */
  checkTicket(userId: string, ticket: Uint8Array): Uint8Array | null {
    if (ticket.length !== TICKET_BYTES) return null;
    const nonce = ticket.slice(0, CREDENTIAL_NONCE_BYTES);
    return ctEqual(ticket.subarray(CREDENTIAL_NONCE_BYTES), this.#ticketTag(userId, nonce)) ? nonce : null;
  }

  /**
   * server.startLogin (on the login pool's thread), then the login state is kept under a fresh
   * loginId and the recover-start transcript signed. The caller has already spent the attempt.
   */
  async startLogin(i: {
    userId: string;
    credentialNonce: Uint8Array;
    registrationRecord: Uint8Array;
    startLoginRequest: Uint8Array;
  }): Promise<{ loginId: Uint8Array; loginResponse: Uint8Array; signature: Uint8Array }> {
    admit(this.#logins, this.#o.now(), this.#o.maxPending, this.#starting);
    this.#starting++;
    let result: { loginResponse: string; serverLoginState: string };
    try {
      result = await this.#pool.startLogin({
        setup: this.#setup,
        userIdentifier: credentialIdentifier(i.userId, i.credentialNonce),
        registrationRecord: base64url(i.registrationRecord),
        startLoginRequest: base64url(i.startLoginRequest),
        identifiers: opaqueIdentifiers(this.#o.fleetId, i.userId),
      });
    } catch (e) {
      if (e instanceof StartLoginRefused) throw new HsmInputError(`startLoginRequest: ${e.message}`);
      throw e;
    } finally {
      this.#starting--;
    }
    const now = this.#o.now();
    const loginResponse = bytesOf(result.loginResponse, OPAQUE_SIZES.loginResponse, 'login response');
    const loginId = new Uint8Array(randomBytes(LOGIN_ID_BYTES));
    const transcript = recoverStartTranscript({
      fleetId: this.#o.fleetId,
      member: this.#o.memberId,
      userId: i.userId,
      startLoginRequest: i.startLoginRequest,
      loginResponse,
      loginId,
    });
    this.#logins.set(base64url(loginId), {
      userId: i.userId,
      recordDigest: recordDigest(i.credentialNonce, i.registrationRecord),
      serverLoginState: result.serverLoginState,
      startTranscriptHash: sha256(transcript),
      expiresAt: now + this.#o.loginTtlMs,
    });
    return { loginId, loginResponse, signature: this.#o.signTranscript(transcript) };
  }

  /**
   * finishLogin. The login state is consumed whatever the outcome (one finish per start). Returns
   * null when the login is unknown, expired, of another user, or the client's proof is wrong.
   */
  finishLogin(i: {
    userId: string;
    loginId: Uint8Array;
    finishLoginRequest: Uint8Array;
  }): { sessionId: Uint8Array; recordDigest: Uint8Array } | null {
    const now = this.#o.now();
    const login = live(this.#logins, i.loginId, now);
    if (!login) return null;
    this.#logins.delete(base64url(i.loginId));
    if (login.userId !== i.userId) return null;
    let sessionKey: Uint8Array;
    try {
      const r = opaque.server.finishLogin({
        serverLoginState: login.serverLoginState,
        finishLoginRequest: base64url(i.finishLoginRequest),
        identifiers: opaqueIdentifiers(this.#o.fleetId, i.userId),
      });
      sessionKey = bytesOf(r.sessionKey, OPAQUE_SIZES.sessionKey, 'session key');
    } catch {
      return null;
    }
    admit(this.#sessions, now, this.#o.maxPending);
    const sessionId = new Uint8Array(randomBytes(SESSION_ID_BYTES));
    const keys = sessionKeys(sessionKey, { fleetId: this.#o.fleetId, userId: i.userId, sessionId });
    sessionKey.fill(0);
    this.#sessions.set(base64url(sessionId), {
      userId: i.userId,
      sessionId,
      recordDigest: login.recordDigest,
      keys,
      startTranscriptHash: login.startTranscriptHash,
      finishLoginRequest: i.finishLoginRequest.slice(),
      expiresAt: now + this.#o.sessionTtlMs,
      released: false,
    });
    return { sessionId, recordDigest: login.recordDigest };
  }

  #session(userId: string, sessionId: Uint8Array): Session | null {
    const s = live(this.#sessions, sessionId, this.#o.now());
    return s && s.userId === userId ? s : null;
  }

  #sealAd(userId: string, digest: Uint8Array): Uint8Array {
    return context('keyfleet/v1/escrow/backup-key', this.#o.fleetId, userId, digest);
  }

  /**
   * Opens the client's upload (its backup key under the session's upload key, which proves the
   * session) and seals the key to the fleet, bound to user and registration. Null when the session
   * is unknown, expired, of another user, or the upload does not authenticate.
   */
  sealUpload(i: { userId: string; sessionId: Uint8Array; nonce: Uint8Array; ciphertext: Uint8Array }): {
    sealedBackupKey: Uint8Array;
    recordDigest: Uint8Array;
  } | null {
    const s = this.#session(i.userId, i.sessionId);
    const key = s && this.#openUpload(s, i.nonce, i.ciphertext);
    if (!s || !key) return null;
    return {
      sealedBackupKey: this.#sealBackupKey(i.userId, s.recordDigest, key),
      recordDigest: s.recordDigest,
    };
  }

  /**
   * Authorises replacing the session's registration with a new one: the ticket must be this fleet's
   * for the user (it yields the new credential nonce), the tag the session's over (ticket, new
   * record), and the upload the backup key under the session. The key is sealed for the new
   * registration, whose digest the HSM computes from the bytes the owner authorised. Null when
   * anything does not verify.
   */
  authorizeReplace(i: {
    userId: string;
    sessionId: Uint8Array;
    ticket: Uint8Array;
    registrationRecord: Uint8Array;
    tag: Uint8Array;
    nonce: Uint8Array;
    ciphertext: Uint8Array;
  }): { replaces: Uint8Array; credentialNonce: Uint8Array; sealedBackupKey: Uint8Array } | null {
    const s = this.#session(i.userId, i.sessionId);
    const credentialNonce = this.checkTicket(i.userId, i.ticket);
    if (!s || !credentialNonce) return null;
    const expected = sessionTag(s.keys.auth, 'replace', replacePayload(i.ticket, i.registrationRecord));
    if (!ctEqual(i.tag, expected)) return null;
    const key = this.#openUpload(s, i.nonce, i.ciphertext);
    if (!key) return null;
    const digest = recordDigest(credentialNonce, i.registrationRecord);
    return {
      replaces: s.recordDigest,
      credentialNonce,
      sealedBackupKey: this.#sealBackupKey(i.userId, digest, key),
    };
  }

  /** The backup key a session uploaded, or null when the upload does not authenticate. */
  #openUpload(s: Session, nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    const key = aeadOpen(
      s.keys.upload,
      nonce,
      uploadAd({ fleetId: this.#o.fleetId, userId: s.userId, sessionId: s.sessionId }),
      ciphertext,
    );
    return key?.length === BACKUP_KEY_BYTES ? key : null;
  }

  /** nonce || AEAD(seal key, backup key), bound to user and registration; wipes `key`. */
  #sealBackupKey(userId: string, digest: Uint8Array, key: Uint8Array): Uint8Array {
    const nonce = new Uint8Array(randomBytes(AEAD_NONCE_BYTES));
    const sealed = concatBytes(nonce, aeadSeal(this.#sealKey, nonce, this.#sealAd(userId, digest), key));
    key.fill(0);
    return sealed;
  }

  /**
   * Re-encrypts the sealed backup key (or, when there is none, 32 zero bytes with flag 0) under the
   * session's release key, once per session, and signs the recover-finish transcript. Throws when
   * the session is unusable or the sealed key is not this user's and registration's.
   */
  release(i: { userId: string; sessionId: Uint8Array; sealedBackupKey: Uint8Array | null }): {
    releaseNonce: Uint8Array;
    releaseCiphertext: Uint8Array;
    signature: Uint8Array;
  } {
    const s = this.#session(i.userId, i.sessionId);
    // These three are faults of the calling member, not of the client's request.
    if (!s) throw new Error('release: the session is unknown or expired');
    if (s.released) throw new Error('release: this session has already released its backup key');
    const plaintext = new Uint8Array(RELEASE_PLAINTEXT_BYTES);
    if (i.sealedBackupKey) {
      const sealed = i.sealedBackupKey;
      const key =
        sealed.length === SEALED_BACKUP_KEY_BYTES
          ? aeadOpen(
              this.#sealKey,
              sealed.subarray(0, AEAD_NONCE_BYTES),
              this.#sealAd(i.userId, s.recordDigest),
              sealed.subarray(AEAD_NONCE_BYTES),
            )
          : null;
      if (!key) throw new Error('release: the sealed backup key is not bound to this user and registration');
      plaintext[0] = 1;
      plaintext.set(key, 1);
      key.fill(0);
    }
    s.released = true;
    const ctx = { fleetId: this.#o.fleetId, userId: i.userId, sessionId: s.sessionId };
    const releaseNonce = new Uint8Array(randomBytes(AEAD_NONCE_BYTES));
    const releaseCiphertext = aeadSeal(s.keys.release, releaseNonce, releaseAd(ctx), plaintext);
    plaintext.fill(0);
    const signature = this.#o.signTranscript(
      recoverFinishTranscript({
        fleetId: this.#o.fleetId,
        member: this.#o.memberId,
        userId: i.userId,
        startTranscriptHash: s.startTranscriptHash,
        finishLoginRequest: s.finishLoginRequest,
        sessionId: s.sessionId,
        releaseNonce,
        releaseCiphertext,
      }),
    );
    return { releaseNonce, releaseCiphertext, signature };
  }

  /**
   * Signs a commit acknowledgement (PROTOCOL.md, "Signed acknowledgements"): the caller reports a
   * command it saw committed; fleet and member are this HSM's own.
   */
  acknowledge(i: Omit<CommitAckTranscript, 'fleetId' | 'member'>): Uint8Array {
    return this.#o.signTranscript(
      commitAckTranscript({ ...i, fleetId: this.#o.fleetId, member: this.#o.memberId }),
    );
  }

  /** Checks a session's delete authorisation; the registration it was granted for, or null. */
  authorizeDelete(i: { userId: string; sessionId: Uint8Array; tag: Uint8Array }): Uint8Array | null {
    const s = this.#session(i.userId, i.sessionId);
    if (!s) return null;
    return ctEqual(i.tag, sessionTag(s.keys.auth, 'delete', new Uint8Array())) ? s.recordDigest : null;
  }

  /** Forgets every login state and session (the HSM is closing). */
  clear(): void {
    for (const s of this.#sessions.values()) for (const k of Object.values(s.keys)) k.fill(0);
    this.#sessions.clear();
    this.#logins.clear();
    this.#ticketKey.fill(0);
    this.#sealKey.fill(0);
  }
}
