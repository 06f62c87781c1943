// The client side of key backup: register a 256-bit backup key behind a password, recover it,
// change the password, delete the backup. Runs the client half of OPAQUE (the password never leaves
// this process; Argon2id stretches it here), checks that every response is signed by the HSM
// identity key of a member in the trusted set, and decrypts the released key with a key derived
// from the OPAQUE session key. The flow is vault-node/src/escrow/PROTOCOL.md.
//
// The transport is injected: a function that POSTs a JSON body to a path of the fleet and returns
// the status and decoded JSON body (httpTransport() below is the fetch-based one).

import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import * as opaque from '@serenity-kit/opaque';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal } from '../hsm/aead.ts';
import { base64url, ctEqual, fromBase64url } from '../hsm/bytes.ts';
import { FLEET_ID_PATTERN } from '../hsm/ids.ts';
import { Purpose, verifyWithPurpose } from '../hsm/keys.ts';
import {
  ACK_NONCE_BYTES,
  BACKUP_KEY_BYTES,
  type CommitOperation,
  CREDENTIAL_NONCE_BYTES,
  commitAckTranscript,
  OPAQUE_SIZES,
  opaqueIdentifiers,
  RELEASE_PLAINTEXT_BYTES,
  recordDigest,
  recoverFinishTranscript,
  recoverStartTranscript,
  registerStartTranscript,
  releaseAd,
  replacePayload,
  type SessionKeys,
  sessionKeys,
  sessionTag,
  USER_ID_PATTERN,
  uploadAd,
} from './crypto.ts';
import {
  ESCROW_PATHS,
  type EscrowPath,
  type Message,
  messageDigest,
  messageToJson,
  parseErrorBody,
  parseMessage,
  schemas,
  WireError,
} from './wire.ts';

export type KeyStretching = NonNullable<Parameters<typeof opaque.client.finishLogin>[0]['keyStretching']>;

/** POSTs `body` as JSON to `path` on the fleet; resolves with the status and the decoded JSON body. */
export type Transport = (path: EscrowPath, body: unknown) => Promise<{ status: number; body: unknown }>;

export interface BackupClientOptions {
  readonly fleetId: string;
  /**
   * Identity public keys of the members to trust, by member id: from the fleet attestation, via
   * trustedMembersFromCertificates() (sdk/src/hsm/certificate.ts).
   */
  readonly trustedMembers: ReadonlyMap<string, Uint8Array>;
  readonly transport: Transport;
  /** The fleet's OPAQUE server public key, when known (fleet attestation): pinned if given. */
  readonly opaqueServerPublicKey?: Uint8Array;
  /** Argon2id parameters; registration and every login must use the same. */
  readonly keyStretching?: KeyStretching;
}

export type BackupErrorCode =
  /** The password is wrong (the attempt was counted). */
  | 'wrong-password'
  /** The record reached its guess limit and is locked forever. */
  | 'locked'
  | 'not-found'
  | 'exists'
  /** Registered, but no backup key was ever stored. */
  | 'no-backup-key'
  /** A response was not signed by a trusted member, or does not belong to this conversation. */
  | 'untrusted-response'
  /** A response was malformed. */
  | 'bad-response'
  /** Any other error the fleet reported (`status` and `serverCode` say which). */
  | 'server';

export class BackupError extends Error {
  override name = 'BackupError';
  readonly code: BackupErrorCode;
  readonly status: number | undefined;
  readonly serverCode: string | undefined;
  constructor(code: BackupErrorCode, message: string, status?: number, serverCode?: string) {
    super(message);
    this.code = code;
    this.status = status;
    this.serverCode = serverCode;
  }
}

interface Login {
  readonly member: string;
  readonly sessionId: Uint8Array;
  readonly keys: SessionKeys;
  /** flag (1) || backup key (32): flag 0 when no key is stored. */
  readonly released: Uint8Array;
}

type Schemas = typeof schemas;
/** The requests that change committed state, and their answers, which must carry a signed `ack`. */
const COMMITTING = {
  registerFinishRequest: 'registerFinishResponse',
  backupKeyRequest: 'backupKeyResponse',
  deleteRequest: 'deleteResponse',
} as const;
type AckedResponse = Message<Schemas['deleteResponse']>;

/** RFC 8265 OpaqueString prepares passwords with NFC, so the same password typed anywhere is the same bytes. */
function preparePassword(password: string): string {
  if (typeof password !== 'string' || password.length === 0)
    throw new TypeError('the password must be a non-empty string');
  return password.normalize('NFC');
}

function checkUserId(userId: string): void {
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    throw new TypeError(
      'userId must be 1..128 characters of A-Z a-z 0-9 _ - (hash e-mail addresses or phone numbers)',
    );
  }
}

function checkBackupKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== BACKUP_KEY_BYTES)
    throw new TypeError('the backup key must be 32 bytes');
}

export class BackupClient {
  readonly #o: BackupClientOptions;
  readonly #keyStretching: KeyStretching;

  constructor(o: BackupClientOptions) {
    if (!FLEET_ID_PATTERN.test(o.fleetId))
      throw new TypeError(`fleetId ${JSON.stringify(o.fleetId)} is not valid`);
    if (o.trustedMembers.size === 0)
      throw new TypeError('trustedMembers is empty: no response could be trusted');
    this.#o = o;
    this.#keyStretching = o.keyStretching ?? 'memory-constrained';
  }

  async #post<Req extends keyof Schemas, Res extends keyof Schemas>(
    path: EscrowPath,
    request: Req,
    body: Message<Schemas[Req]>,
    response: Res,
  ): Promise<Message<Schemas[Res]>> {
    const r = await this.#o.transport(path, messageToJson(schemas[request], body));
    if (r.status < 200 || r.status > 299) {
      const error = parseErrorBody(r.body);
      const code = error?.code;
      const message = error ? `${path}: ${error.message}` : `${path}: HTTP ${r.status}`;
      const mapped: BackupErrorCode =
        code === 'locked' || code === 'not-found' || code === 'exists' ? code : 'server';
      throw new BackupError(mapped, message, r.status, code);
    }
    try {
      return parseMessage(schemas[response], r.body) as Message<Schemas[Res]>;
    } catch (e) {
      if (e instanceof WireError) throw new BackupError('bad-response', `${path}: ${e.message}`, r.status);
      throw e;
    }
  }

  /** Throws unless `member` is trusted and `signature` is its identity key's over `transcript`. */
  #checkSigned(member: string, transcript: Uint8Array, signature: Uint8Array): void {
    const key = this.#o.trustedMembers.get(member);
    if (!key) throw new BackupError('untrusted-response', `member ${member} is not in the trusted set`);
    if (!verifyWithPurpose(key, Purpose.escrowResponse, transcript, signature)) {
      throw new BackupError(
        'untrusted-response',
        `the response is not signed by member ${member}'s HSM identity key`,
      );
    }
  }

  /**
   * Sends a request that changes committed state with a fresh ackNonce and returns only when the
   * answer carries the member's HSM signature that exactly this request was committed
   * (PROTOCOL.md, "Signed acknowledgements"): a bare 2xx, which anyone on the path can forge for a
   * request that was dropped, is refused. `member`: the member that must answer (the one holding
   * the session); `expectedRecordDigest`: the registration the committed state must belong to.
   */
  async #committed<Req extends keyof typeof COMMITTING>(
    path: EscrowPath,
    request: Req,
    body: Omit<Message<Schemas[Req]>, 'ackNonce'>,
    operation: CommitOperation,
    expect: { member?: string; recordDigest?: Uint8Array } = {},
  ): Promise<void> {
    const sent = { ...body, ackNonce: new Uint8Array(randomBytes(ACK_NONCE_BYTES)) } as Message<Schemas[Req]>;
    // The three answers have the same schema: {member, ack?}.
    const res = (await this.#post(path, request, sent, COMMITTING[request])) as unknown as AckedResponse;
    const { userId } = body as unknown as { userId: string };
    const what = `the acknowledgement of ${operation} for ${userId}`;
    if (!res.ack) {
      throw new BackupError(
        'untrusted-response',
        `${what} is not signed: the fleet's answer cannot prove the ${operation} was committed (is the member older than signed acknowledgements, or was the answer forged?)`,
      );
    }
    if (expect.member !== undefined && res.member !== expect.member) {
      throw new BackupError(
        'untrusted-response',
        `${what} comes from ${res.member}, but the session is held by ${expect.member}`,
      );
    }
    this.#checkSigned(
      res.member,
      commitAckTranscript({
        fleetId: this.#o.fleetId,
        member: res.member,
        userId,
        operation,
        requestHash: messageDigest(schemas[request], sent as never),
        recordDigest: res.ack.recordDigest,
        commandDigest: res.ack.commandDigest,
      }),
      res.ack.signature,
    );
    if (expect.recordDigest && !ctEqual(res.ack.recordDigest, expect.recordDigest)) {
      throw new BackupError('untrusted-response', `${what} names another registration than this one`);
    }
  }

  #checkServerKey(serverStaticPublicKey: string): void {
    const pin = this.#o.opaqueServerPublicKey;
    const key = fromBase64url(serverStaticPublicKey);
    if (pin && !(key && ctEqual(key, pin))) {
      throw new BackupError(
        'untrusted-response',
        "the fleet's OPAQUE server key differs from the pinned one",
      );
    }
  }

  async #registration(userId: string, password: string) {
    const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({ password });
    const request = fromBase64url(registrationRequest)!;
    const res = await this.#post(
      ESCROW_PATHS.registerStart,
      'registerStartRequest',
      { userId, registrationRequest: request },
      'registerStartResponse',
    );
    this.#checkSigned(
      res.member,
      registerStartTranscript({ fleetId: this.#o.fleetId, userId, registrationRequest: request, ...res }),
      res.signature,
    );
    const finished = opaque.client.finishRegistration({
      clientRegistrationState,
      registrationResponse: base64url(res.registrationResponse),
      password,
      identifiers: opaqueIdentifiers(this.#o.fleetId, userId),
      keyStretching: this.#keyStretching,
    });
    this.#checkServerKey(finished.serverStaticPublicKey);
    const registrationRecord = fromBase64url(finished.registrationRecord);
    if (registrationRecord?.length !== OPAQUE_SIZES.registrationRecord) {
      throw new Error('the OPAQUE library produced a registration record of an unexpected size');
    }
    const digest = recordDigest(res.ticket.subarray(0, CREDENTIAL_NONCE_BYTES), registrationRecord);
    return { ticket: res.ticket, registrationRecord, recordDigest: digest };
  }

  /** One login: a counted attempt. Throws BackupError 'wrong-password' when the password is wrong. */
  async #login(userId: string, password: string): Promise<Login> {
    const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password });
    const request = fromBase64url(startLoginRequest)!;
    const start = await this.#post(
      ESCROW_PATHS.recoverStart,
      'recoverStartRequest',
      { userId, startLoginRequest: request },
      'recoverStartResponse',
    );
    const startTranscript = recoverStartTranscript({
      fleetId: this.#o.fleetId,
      userId,
      startLoginRequest: request,
      ...start,
    });
    this.#checkSigned(start.member, startTranscript, start.signature);
    const finished = opaque.client.finishLogin({
      clientLoginState,
      loginResponse: base64url(start.loginResponse),
      password,
      identifiers: opaqueIdentifiers(this.#o.fleetId, userId),
      keyStretching: this.#keyStretching,
    });
    if (!finished) throw new BackupError('wrong-password', 'wrong password; the attempt was counted');
    this.#checkServerKey(finished.serverStaticPublicKey);
    const finishLoginRequest = fromBase64url(finished.finishLoginRequest)!;
    const done = await this.#post(
      ESCROW_PATHS.recoverFinish,
      'recoverFinishRequest',
      { userId, loginId: start.loginId, finishLoginRequest },
      'recoverFinishResponse',
    );
    if (done.member !== start.member) {
      throw new BackupError(
        'untrusted-response',
        `login started with ${start.member} but finished by ${done.member}`,
      );
    }
    this.#checkSigned(
      done.member,
      recoverFinishTranscript({
        fleetId: this.#o.fleetId,
        member: done.member,
        userId,
        startTranscriptHash: sha256(startTranscript),
        finishLoginRequest,
        sessionId: done.sessionId,
        releaseNonce: done.releaseNonce,
        releaseCiphertext: done.releaseCiphertext,
      }),
      done.signature,
    );
    const sessionKey = fromBase64url(finished.sessionKey)!;
    const ctx = { fleetId: this.#o.fleetId, userId, sessionId: done.sessionId };
    const keys = sessionKeys(sessionKey, ctx);
    sessionKey.fill(0);
    const released = aeadOpen(keys.release, done.releaseNonce, releaseAd(ctx), done.releaseCiphertext);
    if (released?.length !== RELEASE_PLAINTEXT_BYTES || released[0]! > 1) {
      throw new BackupError('untrusted-response', 'the released key does not decrypt under this session');
    }
    return { member: done.member, sessionId: done.sessionId, keys, released };
  }

  /** The backup key encrypted under the login's upload key. */
  #sealedForUpload(
    userId: string,
    login: Login,
    backupKey: Uint8Array,
  ): { nonce: Uint8Array; ciphertext: Uint8Array } {
    const nonce = new Uint8Array(randomBytes(AEAD_NONCE_BYTES));
    const ctx = { fleetId: this.#o.fleetId, userId, sessionId: login.sessionId };
    return { nonce, ciphertext: aeadSeal(login.keys.upload, nonce, uploadAd(ctx), backupKey) };
  }

  async #upload(
    userId: string,
    login: Login,
    backupKey: Uint8Array,
    registration: Uint8Array,
  ): Promise<void> {
    await this.#committed(
      ESCROW_PATHS.backupKey,
      'backupKeyRequest',
      { userId, sessionId: login.sessionId, ...this.#sealedForUpload(userId, login, backupKey) },
      'backup-key',
      { member: login.member, recordDigest: registration },
    );
  }

  /**
   * Registers `userId` with `password` and stores `backupKey` (32 bytes). Two Argon2id runs: the
   * registration, and the login whose session authenticates the upload.
   */
  async register(userId: string, password: string, backupKey: Uint8Array): Promise<void> {
    checkUserId(userId);
    checkBackupKey(backupKey);
    const pw = preparePassword(password);
    await opaque.ready;
    const registration = await this.#registration(userId, pw);
    const { ticket, registrationRecord } = registration;
    await this.#committed(
      ESCROW_PATHS.registerFinish,
      'registerFinishRequest',
      { userId, ticket, registrationRecord },
      'register',
      { recordDigest: registration.recordDigest },
    );
    await this.#upload(userId, await this.#login(userId, pw), backupKey, registration.recordDigest);
  }

  /** The backup key. Each call is one counted guess; a correct password resets the count. */
  async recover(userId: string, password: string): Promise<Uint8Array> {
    checkUserId(userId);
    const pw = preparePassword(password);
    await opaque.ready;
    const { released } = await this.#login(userId, pw);
    if (released[0] !== 1) throw new BackupError('no-backup-key', 'the registration holds no backup key');
    return released.slice(1);
  }

  /**
   * Replaces the registration with one for `newPassword`, keeping the stored backup key (or storing
   * `backupKey` when given). The new registration and the key are committed together. Two Argon2id
   * runs: the old login and the new registration.
   */
  async changePassword(
    userId: string,
    password: string,
    newPassword: string,
    backupKey?: Uint8Array,
  ): Promise<void> {
    checkUserId(userId);
    if (backupKey) checkBackupKey(backupKey);
    const pw = preparePassword(password);
    const newPw = preparePassword(newPassword);
    await opaque.ready;
    const old = await this.#login(userId, pw);
    const key = backupKey ?? (old.released[0] === 1 ? old.released.slice(1) : null);
    if (!key) throw new BackupError('no-backup-key', 'no backup key is stored: pass the one to keep');
    const registration = await this.#registration(userId, newPw);
    const { ticket, registrationRecord } = registration;
    const replace = {
      sessionId: old.sessionId,
      tag: sessionTag(old.keys.auth, 'replace', replacePayload(ticket, registrationRecord)),
      ...this.#sealedForUpload(userId, old, key),
    };
    await this.#committed(
      ESCROW_PATHS.registerFinish,
      'registerFinishRequest',
      { userId, ticket, registrationRecord, replace },
      'replace',
      { member: old.member, recordDigest: registration.recordDigest },
    );
  }

  /** Deletes the registration and its backup key (one login). */
  async delete(userId: string, password: string): Promise<void> {
    checkUserId(userId);
    const pw = preparePassword(password);
    await opaque.ready;
    const login = await this.#login(userId, pw);
    const tag = sessionTag(login.keys.auth, 'delete', new Uint8Array());
    await this.#committed(
      ESCROW_PATHS.delete,
      'deleteRequest',
      { userId, sessionId: login.sessionId, tag },
      'delete',
      { member: login.member },
    );
  }
}

/** A Transport over HTTP(S) with fetch: POST `baseUrl + path`, JSON in and out. */
export function httpTransport(
  baseUrl: string,
  o: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Transport {
  const f = o.fetch ?? fetch;
  const base = baseUrl.replace(/\/+$/, '');
  return async (path, body) => {
    const res = await f(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed };
  };
}
