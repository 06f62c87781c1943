// The escrow protocol as the leader runs it (PROTOCOL.md), with Raft injected as `propose`:
// a function that appends a command, waits until it is committed and applied on this member, and
// resolves with the state machine's result (rejecting when this member is not, or stops being, the
// leader before that). Nothing here decides from local, uncommitted state: every decision about a
// record is the result of a command that went through the log.
//
// handleEscrowRequest() is the whole HTTP surface minus HTTP: path + parsed JSON in, status + JSON
// out, with the strict parsing and the {error: {code, message}} shape of sdk/src/backup/wire.ts.

import { type CommitOperation, recordDigest } from '@keyfleet/sdk/backup/crypto';
import {
  type BackupKeyRequest,
  type BackupKeyResponse,
  type DeleteRequest,
  type DeleteResponse,
  ERROR_STATUS,
  type ErrorCode,
  ESCROW_PATHS,
  errorBody,
  type Message,
  messageDigest,
  messageToJson,
  parseMessage,
  type RecoverFinishRequest,
  type RecoverFinishResponse,
  type RecoverStartRequest,
  type RecoverStartResponse,
  type RegisterFinishRequest,
  type RegisterFinishResponse,
  type RegisterStartRequest,
  type RegisterStartResponse,
  schemas,
  WireError,
} from '@keyfleet/sdk/backup/wire';
import { sha256 } from '@noble/hashes/sha2.js';
import { FLEET_SECRET_SLOT, type SoftwareHsm } from '../hsm/hsm.ts';
import { HsmBusyError, HsmInputError } from '../hsm/opaque-engine.ts';
import {
  decodeAttemptResult,
  decodePlainResult,
  decodeResetResult,
  type EscrowCommand,
  encodeCommand,
  MAX_GUESS_LIMIT,
  type Refusal,
} from './commands.ts';

/** Appends `command` to the replicated log; resolves with its apply result once committed and applied here. */
export type Propose = (command: Uint8Array) => Promise<Uint8Array>;

/** The HSM operations the escrow needs (SoftwareHsm provides them). */
export type EscrowHsm = Pick<
  SoftwareHsm,
  | 'memberId'
  | 'opaqueRegistrationResponse'
  | 'opaqueCheckTicket'
  | 'opaqueStartLogin'
  | 'opaqueFinishLogin'
  | 'escrowSealUpload'
  | 'escrowRelease'
  | 'escrowAuthorizeDelete'
  | 'escrowAuthorizeReplace'
  | 'escrowAcknowledge'
>;

export interface EscrowServiceOptions {
  readonly hsm: EscrowHsm;
  readonly propose: Propose;
  /** Written into each new registration (1..255); a record keeps the limit it was registered with. */
  readonly guessLimit: number;
  /** The HSM slot holding the fleet secret. */
  readonly slot?: string;
}

export class EscrowError extends Error {
  override name = 'EscrowError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const REFUSALS: Readonly<Record<Refusal, readonly [ErrorCode, string]>> = {
  'not-found': ['not-found', 'no registration for this user'],
  exists: [
    'exists',
    'this user is already registered; replacing a registration needs a session of its owner',
  ],
  stale: ['stale', 'the registration changed after this session was opened; log in again'],
  locked: ['locked', 'the guess limit was reached: this record is locked forever'],
  invalid: ['internal', 'the state machine refused a command this member built'],
};

function refused(status: Refusal): EscrowError {
  const [code, message] = REFUSALS[status];
  return new EscrowError(code, message);
}

/** A request that commits state and may ask for a signed acknowledgement. */
type Acknowledged = { readonly userId: string; readonly ackNonce?: Uint8Array | undefined };
type AckedSchema = (typeof schemas)['registerFinishRequest' | 'backupKeyRequest' | 'deleteRequest'];
type Ack = NonNullable<RegisterFinishResponse['ack']>;

export class EscrowService {
  readonly #hsm: EscrowHsm;
  readonly #propose: Propose;
  readonly #guessLimit: number;
  readonly #slot: string;

  constructor(o: EscrowServiceOptions) {
    if (!Number.isInteger(o.guessLimit) || o.guessLimit < 1 || o.guessLimit > MAX_GUESS_LIMIT) {
      throw new RangeError(`guessLimit must be an integer 1..${MAX_GUESS_LIMIT}, got ${o.guessLimit}`);
    }
    this.#hsm = o.hsm;
    this.#propose = o.propose;
    this.#guessLimit = o.guessLimit;
    this.#slot = o.slot ?? FLEET_SECRET_SLOT;
  }

  #commit(c: EscrowCommand): Promise<Uint8Array> {
    return this.#propose(encodeCommand(c));
  }

  /** Commits `c`, whose result is ok or a refusal (thrown); resolves with the command's digest. */
  async #commitPlain(c: EscrowCommand): Promise<Uint8Array> {
    const command = encodeCommand(c);
    const result = decodePlainResult(await this.#propose(command));
    if (result.status !== 'ok') throw refused(result.status);
    return sha256(command);
  }

  /**
   * The HSM-signed acknowledgement of a committed command, when the request asked for one with an
   * ackNonce (PROTOCOL.md, "Signed acknowledgements"). Only called after the commit succeeded.
   */
  #ack<S extends AckedSchema>(
    operation: CommitOperation,
    schema: S,
    req: Message<S> & Acknowledged,
    digests: { recordDigest: Uint8Array; commandDigest: Uint8Array },
  ): Ack | undefined {
    if (!req.ackNonce) return undefined;
    const signature = this.#hsm.escrowAcknowledge(this.#slot, {
      operation,
      userId: req.userId,
      requestHash: messageDigest(schema, req),
      ...digests,
    });
    return { ...digests, signature };
  }

  /** Evaluates the OPRF under a fresh credential nonce; writes nothing (PROTOCOL.md: not an oracle). */
  async registerStart(req: RegisterStartRequest): Promise<RegisterStartResponse> {
    const r = this.#hsm.opaqueRegistrationResponse(this.#slot, req.userId, req.registrationRequest);
    return { member: this.#hsm.memberId, ...r };
  }

  /**
   * Stores a new registration. Replacing an existing one needs an authorisation by a session of its
   * owner, which also carries the backup key to keep: record and key change in one command.
   */
  async registerFinish(req: RegisterFinishRequest): Promise<RegisterFinishResponse> {
    let credentialNonce: Uint8Array | null;
    let replace: { digest: Uint8Array; sealedBackupKey: Uint8Array } | null = null;
    if (req.replace) {
      const r = this.#hsm.escrowAuthorizeReplace(this.#slot, {
        userId: req.userId,
        ticket: req.ticket,
        registrationRecord: req.registrationRecord,
        ...req.replace,
      });
      if (!r) {
        throw new EscrowError(
          'authentication-failed',
          'replace: the ticket, the session authorisation or the backup key upload does not verify',
        );
      }
      credentialNonce = r.credentialNonce;
      replace = { digest: r.replaces, sealedBackupKey: r.sealedBackupKey };
    } else {
      credentialNonce = this.#hsm.opaqueCheckTicket(this.#slot, req.userId, req.ticket);
      if (!credentialNonce)
        throw new EscrowError('invalid-request', 'ticket: not issued by this fleet for this user');
    }
    const commandDigest = await this.#commitPlain({
      op: 'register',
      userId: req.userId,
      guessLimit: this.#guessLimit,
      replace,
      credentialNonce,
      registrationRecord: req.registrationRecord,
    });
    const digests = { recordDigest: recordDigest(credentialNonce, req.registrationRecord), commandDigest };
    return {
      member: this.#hsm.memberId,
      ack: this.#ack(replace ? 'replace' : 'register', schemas.registerFinishRequest, req, digests),
    };
  }

  /**
   * Commits attempts += 1, and only once that is committed and granted runs server.startLogin,
   * presenting the attempt entry's index and term to the HSM, which evaluates only for an attempt
   * its member applied, once. A locked record, or one whose count is at the limit (which locks it),
   * is never evaluated again.
   */
  async recoverStart(req: RecoverStartRequest): Promise<RecoverStartResponse> {
    const granted = decodeAttemptResult(await this.#commit({ op: 'attempt', userId: req.userId }));
    if (granted.status !== 'ok') throw refused(granted.status);
    const r = await this.#hsm.opaqueStartLogin(this.#slot, {
      userId: req.userId,
      credentialNonce: granted.credentialNonce,
      registrationRecord: granted.registrationRecord,
      startLoginRequest: req.startLoginRequest,
      attempt: granted.attempt,
    });
    return { member: this.#hsm.memberId, ...r };
  }

  /**
   * server.finishLogin; on success commits attempts = 0 (whose result carries the sealed backup key
   * from committed state) and returns the key re-encrypted under the session. On failure nothing is
   * returned and the attempt stays spent.
   */
  async recoverFinish(req: RecoverFinishRequest): Promise<RecoverFinishResponse> {
    const session = this.#hsm.opaqueFinishLogin(this.#slot, req);
    if (!session) {
      throw new EscrowError(
        'authentication-failed',
        'login failed (wrong password, or an unknown or expired login); the attempt stays counted',
      );
    }
    const reset = decodeResetResult(
      await this.#commit({ op: 'reset-attempts', userId: req.userId, recordDigest: session.recordDigest }),
    );
    if (reset.status !== 'ok') throw refused(reset.status);
    const release = this.#hsm.escrowRelease(this.#slot, {
      userId: req.userId,
      sessionId: session.sessionId,
      sealedBackupKey: reset.sealedBackupKey,
    });
    return { member: this.#hsm.memberId, sessionId: session.sessionId, ...release };
  }

  /** Stores the backup key a session uploaded (encrypted under its upload key), sealed to the fleet. */
  async uploadBackupKey(req: BackupKeyRequest): Promise<BackupKeyResponse> {
    const sealed = this.#hsm.escrowSealUpload(this.#slot, req);
    if (!sealed) {
      throw new EscrowError(
        'authentication-failed',
        'the upload does not authenticate under a live session of this user',
      );
    }
    const commandDigest = await this.#commitPlain({
      op: 'set-backup-key',
      userId: req.userId,
      recordDigest: sealed.recordDigest,
      sealedBackupKey: sealed.sealedBackupKey,
    });
    const digests = { recordDigest: sealed.recordDigest, commandDigest };
    return {
      member: this.#hsm.memberId,
      ack: this.#ack('backup-key', schemas.backupKeyRequest, req, digests),
    };
  }

  /** Deletes a registration on an authorisation by a session of its owner. */
  async delete(req: DeleteRequest): Promise<DeleteResponse> {
    const recordDigest = this.#hsm.escrowAuthorizeDelete(this.#slot, req);
    if (!recordDigest)
      throw new EscrowError('authentication-failed', 'the session authorisation does not verify');
    const commandDigest = await this.#commitPlain({ op: 'delete', userId: req.userId, recordDigest });
    return {
      member: this.#hsm.memberId,
      ack: this.#ack('delete', schemas.deleteRequest, req, { recordDigest, commandDigest }),
    };
  }
}

export interface EscrowHttpResponse {
  readonly status: number;
  readonly body: unknown;
}

type Schema = Parameters<typeof parseMessage>[0];

function route<Req extends Schema, Res extends Schema>(
  request: Req,
  response: Res,
  handler: (s: EscrowService, r: Message<Req>) => Promise<Message<Res>>,
  status = 200,
) {
  return async (s: EscrowService, body: unknown): Promise<EscrowHttpResponse> => ({
    status,
    body: messageToJson(response, await handler(s, parseMessage(request, body))),
  });
}

const ROUTES: Readonly<Record<string, (s: EscrowService, body: unknown) => Promise<EscrowHttpResponse>>> = {
  [ESCROW_PATHS.registerStart]: route(schemas.registerStartRequest, schemas.registerStartResponse, (s, r) =>
    s.registerStart(r),
  ),
  [ESCROW_PATHS.registerFinish]: route(
    schemas.registerFinishRequest,
    schemas.registerFinishResponse,
    (s, r) => s.registerFinish(r),
    201,
  ),
  [ESCROW_PATHS.recoverStart]: route(schemas.recoverStartRequest, schemas.recoverStartResponse, (s, r) =>
    s.recoverStart(r),
  ),
  [ESCROW_PATHS.recoverFinish]: route(schemas.recoverFinishRequest, schemas.recoverFinishResponse, (s, r) =>
    s.recoverFinish(r),
  ),
  [ESCROW_PATHS.backupKey]: route(schemas.backupKeyRequest, schemas.backupKeyResponse, (s, r) =>
    s.uploadBackupKey(r),
  ),
  [ESCROW_PATHS.delete]: route(schemas.deleteRequest, schemas.deleteResponse, (s, r) => s.delete(r)),
};

function failure(code: ErrorCode, message: string): EscrowHttpResponse {
  return { status: ERROR_STATUS[code], body: errorBody(code, message) };
}

/**
 * One escrow request: `path` (one of ESCROW_PATHS) and the request's decoded JSON. Escrow, input
 * and HSM-capacity errors become {error: {code, message}} responses; anything else (in particular
 * a propose that failed because this member is not the leader) is rethrown for the HTTP layer,
 * which knows how to redirect or answer 503.
 */
export async function handleEscrowRequest(
  service: EscrowService,
  path: string,
  body: unknown,
): Promise<EscrowHttpResponse> {
  const handler = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
  if (!handler) return failure('not-found', `no escrow endpoint ${path}`);
  try {
    return await handler(service, body);
  } catch (e) {
    if (e instanceof EscrowError) return failure(e.code, e.message);
    if (e instanceof WireError) return failure('invalid-request', e.message);
    if (e instanceof HsmInputError) return failure('invalid-request', e.message);
    if (e instanceof HsmBusyError) return failure('busy', e.message);
    throw e;
  }
}
