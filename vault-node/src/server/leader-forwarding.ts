// Both ends of forwarding a client request from a follower to the leader over the peer port
// (forwarded-request.ts has the format). The follower signs what it forwards with its HSM identity
// key; the leader opens a forwarded request only from a member whose certified identity signed it,
// addressed to itself, not seen before: only then does it believe the client address inside.
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { CounterSource } from '../raft/transport/replay-guard.ts';
import type { Authenticator, MemberId } from '../raft/types.ts';
import { ForwardReplayGuard } from './forward-replay-guard.ts';
import {
  decodeForwardedBody,
  decodeForwardedEnvelope,
  encodeForwardedBody,
  encodeForwardedEnvelope,
  type ForwardedRequest,
  forwardedDigest,
} from './forwarded-request.ts';
import { PeerAnswerTooLargeError, peerPost } from './peer-post.ts';

const FORWARD_TIMEOUT_MS = 15_000;
/** How members before the peer-port forwarding marked a forward on the leader's client port. */
export const LEGACY_FORWARDED_HEADER = 'x-keyfleet-forwarded-by';
const MAX_ANSWER_BYTES = 64 * 1024;

/** What the leader answered a forwarded request: the client's status and body, relayed as they are. */
export interface ForwardedAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The leader refused to open a forwarded request; `status` is the peer route's answer. */
export class ForwardRefusedError extends Error {
  override name = 'ForwardRefusedError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface LeaderForwardingOptions {
  readonly memberId: MemberId;
  /** The Raft transport's authenticator: the HSM identity key, peers' certified keys. */
  readonly authenticator: Authenticator;
  readonly peerUrlOf: (member: MemberId) => string;
  /**
   * Whether `member` is in the Raft configuration now. Checked before the signature: verifying a
   * stranger's would make this member fetch and check a certificate for any name a sender invents.
   */
  readonly isMember: (member: MemberId) => boolean;
  /**
   * A member's client URL, for a leader that predates peer-port forwarding (it answers 404 there):
   * during a rolling update followers are updated before the leader, and their clients would get
   * nothing but 503 until it is. Such a leader gets the request the way it knows (its client port,
   * the old header) and rate-limits it as it always did. Remove once no such version runs.
   */
  readonly legacyClientUrlOf?: (member: MemberId) => string;
  readonly guard?: ForwardReplayGuard;
  readonly counters?: CounterSource;
  readonly timeoutMs?: number;
}

export class LeaderForwarding {
  readonly #o: LeaderForwardingOptions;
  readonly #guard: ForwardReplayGuard;
  readonly #counters: CounterSource;

  constructor(o: LeaderForwardingOptions) {
    this.#o = o;
    this.#guard = o.guard ?? new ForwardReplayGuard();
    this.#counters = o.counters ?? new CounterSource();
  }

  /** The signed body that forwards `request` (JSON) from `client` to `leader`. */
  async seal(leader: MemberId, client: string, path: string, request: unknown): Promise<Uint8Array> {
    const envelope = encodeForwardedEnvelope({
      from: this.#o.memberId,
      to: leader,
      counter: this.#counters.next(),
      client,
      path,
      requestJson: new TextEncoder().encode(JSON.stringify(request ?? null)),
    });
    const signature = await this.#o.authenticator.sign(this.#o.memberId, leader, forwardedDigest(envelope));
    return encodeForwardedBody(signature, envelope);
  }

  /** Follower side: forwards once; throws when the leader cannot be reached or refuses the forward. */
  async send(leader: MemberId, client: string, path: string, request: unknown): Promise<ForwardedAnswer> {
    const body = await this.seal(leader, client, path, request);
    const res = await this.#post(this.#o.peerUrlOf(leader) + HttpPath.peerForward, body, {
      'content-type': 'application/octet-stream',
    });
    const text = res.text;
    if (res.status === 404 && this.#o.legacyClientUrlOf) return this.#sendLegacy(leader, path, request);
    if (res.status !== 200) {
      throw new Error(`the leader refused the forwarded request (HTTP ${res.status}): ${text.slice(0, 200)}`);
    }
    const answer = JSON.parse(text) as Partial<ForwardedAnswer>;
    if (
      !Number.isInteger(answer.status) ||
      (answer.status as number) < 200 ||
      (answer.status as number) > 599
    ) {
      throw new Error('the leader answered a forwarded request without a status');
    }
    return { status: answer.status as number, body: answer.body ?? null };
  }

  async #sendLegacy(leader: MemberId, path: string, request: unknown): Promise<ForwardedAnswer> {
    const res = await this.#post(
      (this.#o.legacyClientUrlOf as (m: MemberId) => string)(leader) + path,
      JSON.stringify(request ?? null),
      { 'content-type': 'application/json', [LEGACY_FORWARDED_HEADER]: this.#o.memberId },
    );
    return { status: res.status, body: res.text === '' ? null : JSON.parse(res.text) };
  }

  async #post(url: string, body: Uint8Array | string, headers: Record<string, string>) {
    const { 'content-type': contentType, ...rest } = headers;
    try {
      return await peerPost(url, body, {
        contentType: contentType as string,
        headers: rest,
        timeoutMs: this.#o.timeoutMs ?? FORWARD_TIMEOUT_MS,
        maxAnswerBytes: MAX_ANSWER_BYTES,
      });
    } catch (e) {
      if (e instanceof PeerAnswerTooLargeError)
        throw new Error('the leader answered more than a client answer holds');
      throw e;
    }
  }

  /** Leader side: the request inside `body`, once its signature, recipient and freshness check out. */
  async open(body: Uint8Array): Promise<ForwardedRequest> {
    let signature: Uint8Array;
    let envelope: Uint8Array;
    let request: ForwardedRequest;
    try {
      ({ signature, envelope } = decodeForwardedBody(body));
      request = decodeForwardedEnvelope(envelope);
    } catch (e) {
      throw new ForwardRefusedError(400, 'malformed', e instanceof Error ? e.message : 'undecodable');
    }
    if (request.to !== this.#o.memberId || request.from === this.#o.memberId) {
      throw new ForwardRefusedError(
        403,
        'wrong-recipient',
        `forwarded to ${request.to}, from ${request.from}`,
      );
    }
    if (!this.#o.isMember(request.from)) {
      throw new ForwardRefusedError(403, 'unknown-member', `${request.from} is not a member of this fleet`);
    }
    if (
      !(await this.#o.authenticator.verify(request.from, request.to, forwardedDigest(envelope), signature))
    ) {
      throw new ForwardRefusedError(
        403,
        'bad-signature',
        `the signature does not verify under the certified identity of ${request.from}`,
      );
    }
    const verdict = this.#guard.accept(request.from, request.counter);
    if (verdict !== 'ok') throw new ForwardRefusedError(409, 'replay', `forward counter refused: ${verdict}`);
    return request;
  }
}
