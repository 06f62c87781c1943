// HTTP transport between Raft members.
//
// Inbound (express): POST /raft/v1/messages (raw body, 4 MiB cap) and POST /raft/v1/snapshot
// (raw body, 16 MiB + envelope cap, at most two read at once). Every body is a signed envelope (codec.ts); cheap checks run
// first (shape, configured sender, addressed to us), then the signature, then the replay counter,
// then the full decode. Anything that fails is dropped, counted by reason, and answered 4xx; only
// verified messages reach the core.
//
// POST /raft/v1/stream carries many envelopes in one long request body, each framed and verified
// on its own (message-stream.ts, stream-frames.ts): the same checks, minus an HTTP exchange per
// envelope.
//
// Outbound (fetch/undici, keep-alive): one queue per peer. Messages go onto the peer's message
// stream as they come, one signed envelope per batch (what one Ready queued for that peer), so
// appends are pipelined (the core keeps several outstanding, its maxInflightAppends) and a peer's
// messages stay in order. A peer that answers 404 on the stream path (an older member) gets one
// request per envelope on /raft/v1/messages instead, at most one in flight, messages queued
// meanwhile coalesced into the next. Snapshots travel on their own channel, streamed in 64 KiB
// chunks, so a large snapshot never holds up heartbeats. Failures are dropped (Raft retransmits)
// and the peer is backed off briefly.

import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Authenticator, MemberId, Message } from '../types.ts';
import {
  CHANNEL_MESSAGES,
  CHANNEL_SNAPSHOT,
  type Channel,
  type CodecLimits,
  DEFAULT_LIMITS,
  DecodeError,
  decodeMessages,
  decodeSignedBody,
  encodeBody,
  encodeEnvelope,
} from './codec.ts';
import { MessageStream } from './message-stream.ts';
import { CounterSource, ReplayGuard } from './replay-guard.ts';
import { encodeFrame, FrameReader, FrameTooLargeError } from './stream-frames.ts';

export const RAFT_MESSAGES_PATH = '/raft/v1/messages';
export const RAFT_SNAPSHOT_PATH = '/raft/v1/snapshot';
/** A long POST carrying framed message envelopes (message-stream.ts). */
export const RAFT_STREAM_PATH = '/raft/v1/stream';

export type DropReason =
  | 'malformed'
  | 'too-large'
  | 'busy'
  | 'unknown-member'
  | 'wrong-recipient'
  | 'bad-signature'
  | 'replay'
  | 'refused-by-core'
  | 'partitioned'
  | 'queue-full'
  | 'unknown-peer'
  | 'send-failed';

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'too-large',
  'busy',
  'unknown-member',
  'wrong-recipient',
  'bad-signature',
  'replay',
  'refused-by-core',
  'partitioned',
  'queue-full',
  'unknown-peer',
  'send-failed',
];

export interface HttpTransportOptions {
  readonly id: MemberId;
  /** Base URL of every configured member (this one may be included; it is ignored). */
  readonly peers: ReadonlyMap<MemberId, string>;
  readonly authenticator: Authenticator;
  /** Receives verified messages, in arrival order. May throw to refuse them. */
  readonly deliver: (messages: Message[]) => void;
  readonly onDrop?: (reason: DropReason, count: number) => void;
  /**
   * Told of an envelope from a sender that is not configured (the envelope is refused). A member
   * that has just joined a running fleet knows only the members it was configured with, which
   * need not include the leader; the host may verify such a sender and `setPeer` it, so that its
   * next envelope is accepted. Called before any check of the envelope's signature: the host must
   * treat `from` as untrusted input.
   */
  readonly onUnknownSender?: (from: MemberId) => void;
  readonly limits?: CodecLimits;
  /** Cap on a messages body; a snapshot body may be maxSnapshotBytes plus 64 KiB. */
  readonly maxMessagesBodyBytes?: number;
  /** Coalesce queued messages into envelopes of about this size. */
  readonly maxBatchBytes?: number;
  readonly maxQueuedMessages?: number;
  readonly requestTimeoutMs?: number;
  readonly snapshotTimeoutMs?: number;
  /** How long an incoming message stream may go without a verified first frame (default 5 s). */
  readonly streamFirstFrameDeadlineMs?: number;
}

const SNAPSHOT_CHUNK = 64 * 1024;
/**
 * Snapshot bodies are buffered (up to 16 MiB) before their signature can be checked, so at most
 * this many are read at once: an unauthenticated sender cannot make us hold more than that.
 */
const MAX_CONCURRENT_SNAPSHOT_BODIES = 2;
/** Message streams read at once (each buffers at most one frame before verifying it). */
const MAX_CONCURRENT_STREAMS = 64;
/**
 * A stream whose first frame has not verified by then is cut: a sender opens a stream only to
 * write a frame at once, so a stream that stays silent (or trickles bytes) is nobody's we know,
 * and must not hold one of the slots above.
 */
const DEFAULT_FIRST_FRAME_DEADLINE_MS = 5000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 500;

const DIGEST_DOMAIN = new TextEncoder().encode('keyfleet raft envelope v1\0');

/**
 * What the authenticator signs: SHA-256 over a domain tag and the envelope. Signing a digest keeps
 * a 16 MiB snapshot as cheap to sign as a heartbeat (one HSM operation, hashing natively), and the
 * tag keeps these signatures from being valid for anything else the identity key signs.
 */
export function envelopeDigest(envelope: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(DIGEST_DOMAIN).update(envelope).digest());
}

class HttpError extends Error {
  readonly status: number;
  readonly code: DropReason;
  constructor(status: number, code: DropReason, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function estimateBytes(m: Message): number {
  let n = 64;
  if (m.entries) for (const e of m.entries) n += 21 + e.data.length;
  if (m.snapshot) n += m.snapshot.data.length;
  return n;
}

class PeerSender {
  private target: string;
  private readonly peer: MemberId;
  private readonly t: HttpTransport;
  private stream: MessageStream | undefined;
  /** The peer answered 404 on the stream path (an older member): one request per envelope. */
  private streamUnsupported = false;
  private queue: Message[] = [];
  private snapshot: Message | undefined;
  private sendingMessages = false;
  private sendingSnapshot = false;
  private backoffMs = 0;
  private backoffUntil = 0;
  private wakeup: NodeJS.Timeout | undefined;
  private pumpScheduled = false;

  constructor(t: HttpTransport, peer: MemberId, url: string) {
    this.t = t;
    this.peer = peer;
    this.target = url;
  }

  get url(): string {
    return this.target;
  }

  /** Re-addresses the peer: the stream to the old address is cut. */
  set url(url: string) {
    if (url === this.target) return;
    this.target = url;
    this.streamUnsupported = false;
    this.stream?.kill();
  }

  enqueue(m: Message): void {
    if (m.type === 'snapshot') {
      if (this.snapshot) this.t.drop('queue-full', 1);
      this.snapshot = m;
    } else {
      if (this.queue.length >= this.t.maxQueuedMessages) {
        this.queue.shift();
        this.t.drop('queue-full', 1);
      }
      this.queue.push(m);
    }
    // Written at the end of this turn of the event loop, not at once: what the node sends this
    // peer until then (a commit notice from one Ready and the append from the Ready right after
    // it, say) goes out as one frame. Each frame costs a socket write, and every write wakes the
    // peer; at 16 concurrent proposers this halved the leader's frames (2.0 to 1.0 per follower
    // per commit round) and took ~10 % off the CPU per commit.
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  pump(): void {
    if (this.t.closed) return;
    if (!this.sendingMessages && this.queue.length > 0) {
      const wait = this.backoffUntil - Date.now();
      if (wait > 0) {
        this.wakeup ??= setTimeout(() => {
          this.wakeup = undefined;
          this.pump();
        }, wait);
      } else if (this.streamUnsupported) {
        void this.sendMessages();
      } else {
        void this.streamMessages();
      }
    }
    if (!this.sendingSnapshot && this.snapshot) void this.sendSnapshot();
  }

  private takeBatch(): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.t.limits.maxMessages) {
      bytes += estimateBytes(this.queue[n]!);
      if (n > 0 && bytes > this.t.maxBatchBytes) break;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async sendMessages(): Promise<void> {
    this.sendingMessages = true;
    const batch = this.takeBatch();
    try {
      const ok = await this.post(RAFT_MESSAGES_PATH, CHANNEL_MESSAGES, batch, this.t.requestTimeoutMs, false);
      if (ok) this.backoffMs = 0;
      else this.fail(batch.length);
    } finally {
      this.sendingMessages = false;
      this.pump();
    }
  }

  /** Writes queued messages onto the stream, one signed frame per batch, in order. */
  private async streamMessages(): Promise<void> {
    this.sendingMessages = true;
    try {
      while (this.queue.length > 0 && !this.t.closed && !this.streamUnsupported) {
        const stream = await this.openStream();
        // Taken after the await: everything the current Ready queued goes into one frame.
        const batch = this.takeBatch();
        let frame: Uint8Array;
        try {
          frame = encodeFrame(await this.signedBody(CHANNEL_MESSAGES, batch));
        } catch {
          this.fail(batch.length);
          break;
        }
        if (!stream.write(frame, batch.length)) {
          this.fail(batch.length);
          break;
        }
      }
    } finally {
      this.sendingMessages = false;
      this.pump();
    }
  }

  /** The current stream, or a new one once the previous one has been answered. */
  private async openStream(): Promise<MessageStream> {
    const old = this.stream;
    if (old?.usable) return old;
    this.stream = undefined;
    if (old) {
      const status = await old.end(this.t.requestTimeoutMs);
      if (status === 204) this.backoffMs = 0;
      else this.streamFailed(old, status);
    }
    const stream = new MessageStream(this.target + RAFT_STREAM_PATH);
    this.stream = stream;
    void stream.ended.then((status) => {
      if (this.stream !== stream) return; // ended by openStream, which handles the answer
      this.stream = undefined;
      this.streamFailed(stream, status);
      this.pump();
    });
    return stream;
  }

  private streamFailed(stream: MessageStream, status: number): void {
    if (status === 404) this.streamUnsupported = true;
    // Which of its messages arrived is unknown: all are counted (an upper bound).
    this.fail(Math.max(1, stream.messages));
  }

  private async sendSnapshot(): Promise<void> {
    this.sendingSnapshot = true;
    const m = this.snapshot!;
    this.snapshot = undefined;
    try {
      const ok = await this.post(RAFT_SNAPSHOT_PATH, CHANNEL_SNAPSHOT, [m], this.t.snapshotTimeoutMs, true);
      if (!ok) this.fail(1);
    } finally {
      this.sendingSnapshot = false;
      this.pump();
    }
  }

  private fail(count: number): void {
    // What is still queued behind a failed send goes too: Raft messages are loss-tolerant, and
    // the follower would reject appends that follow a lost one anyway (a gap). Kept, they would
    // reach a restarted member long after they were made (a backlog of stale appends, which the
    // leader has since compacted away and will send as a snapshot); dropped, the leader's next
    // append or heartbeat finds out where the member stands. etcd's transport drops them as well.
    count += this.queue.length;
    this.queue.length = 0;
    this.t.drop('send-failed', count);
    this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
    this.backoffUntil = Date.now() + this.backoffMs;
  }

  private async post(
    path: string,
    channel: Channel,
    messages: Message[],
    timeoutMs: number,
    stream: boolean,
  ): Promise<boolean> {
    // A plain timer, cleared when the request ends: AbortSignal.timeout would still fire (an event
    // and a DOMException) a second after every request, and AbortSignal.any tied to a long-lived
    // signal keeps each request's signal alive until the transport closes.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    this.t.inflight.add(abort);
    try {
      const body = await this.signedBody(channel, messages);
      const init: RequestInit & { duplex?: 'half' } = {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        signal: abort.signal,
      };
      if (stream) {
        let off = 0;
        init.body = new ReadableStream<Uint8Array>({
          pull(ctrl) {
            if (off >= body.length) return ctrl.close();
            ctrl.enqueue(body.slice(off, off + SNAPSHOT_CHUNK));
            off += SNAPSHOT_CHUNK;
          },
        });
        init.duplex = 'half';
      } else {
        init.body = body;
      }
      const res = await fetch(this.url + path, init);
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.t.inflight.delete(abort);
    }
  }

  private async signedBody(channel: Channel, messages: Message[]): Promise<Uint8Array> {
    const envelope = encodeEnvelope(
      { channel, from: this.t.id, to: this.peer, counter: this.t.counters.next() },
      messages,
    );
    return encodeBody(
      await this.t.authenticator.sign(this.t.id, this.peer, envelopeDigest(envelope)),
      envelope,
    );
  }

  close(): void {
    this.stream?.kill();
    this.stream = undefined;
    if (this.wakeup) clearTimeout(this.wakeup);
    this.t.drop('send-failed', this.queue.length);
    this.queue = [];
    this.snapshot = undefined;
  }
}

export class HttpTransport {
  readonly id: MemberId;
  readonly authenticator: Authenticator;
  readonly limits: CodecLimits;
  readonly maxBatchBytes: number;
  readonly maxQueuedMessages: number;
  readonly requestTimeoutMs: number;
  readonly snapshotTimeoutMs: number;
  readonly counters = new CounterSource();
  /** Requests in flight, aborted by close(). */
  readonly inflight = new Set<AbortController>();
  readonly router: Router;
  closed = false;

  private readonly deliver: (messages: Message[]) => void;
  private readonly onDrop: ((reason: DropReason, count: number) => void) | undefined;
  private readonly onUnknownSender: ((from: MemberId) => void) | undefined;
  private readonly senders = new Map<MemberId, PeerSender>();
  private readonly replay = new ReplayGuard();
  /** Message streams being read: cut when the transport closes, so senders reconnect to whoever serves next. */
  private readonly incomingStreams = new Set<Response>();
  private blocked = new Set<MemberId>();

  constructor(options: HttpTransportOptions) {
    this.id = options.id;
    this.authenticator = options.authenticator;
    this.deliver = options.deliver;
    this.onDrop = options.onDrop;
    this.onUnknownSender = options.onUnknownSender;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.maxQueuedMessages = options.maxQueuedMessages ?? 4096;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 1000;
    this.snapshotTimeoutMs = options.snapshotTimeoutMs ?? 30_000;
    for (const [id, url] of options.peers) this.setPeer(id, url);
    this.router = this.buildRouter(
      options.maxMessagesBodyBytes ?? 4 * 1024 * 1024,
      options.streamFirstFrameDeadlineMs ?? DEFAULT_FIRST_FRAME_DEADLINE_MS,
    );
  }

  /** Adds or re-addresses a member. Only configured members may send to us. */
  setPeer(id: MemberId, url: string): void {
    if (id === this.id) return;
    const base = url.replace(/\/+$/, '');
    const s = this.senders.get(id);
    if (s) s.url = base;
    else this.senders.set(id, new PeerSender(this, id, base));
  }

  removePeer(id: MemberId): void {
    this.senders.get(id)?.close();
    this.senders.delete(id);
  }

  peerUrl(id: MemberId): string | undefined {
    return this.senders.get(id)?.url;
  }

  /** Test fault injection: drop all traffic to and from these members (a network partition). */
  setBlocked(ids: Iterable<MemberId>): void {
    this.blocked = new Set(ids);
  }

  get blockedMembers(): readonly MemberId[] {
    return [...this.blocked];
  }

  drop(reason: DropReason, count: number): void {
    if (count > 0) this.onDrop?.(reason, count);
  }

  /** Queues messages for their recipients; never blocks, never throws. */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.blocked.has(m.to)) {
        this.drop('partitioned', 1);
        continue;
      }
      const s = this.senders.get(m.to);
      if (!s || m.from !== this.id) this.drop('unknown-peer', 1);
      else s.enqueue(m);
    }
  }

  private async receive(channel: Channel, raw: unknown): Promise<number> {
    if (!(raw instanceof Uint8Array) || raw.length === 0) throw new HttpError(400, 'malformed', 'empty body');
    let body: ReturnType<typeof decodeSignedBody>;
    try {
      body = decodeSignedBody(raw);
    } catch (e) {
      throw new HttpError(400, 'malformed', e instanceof DecodeError ? e.message : 'undecodable body');
    }
    const { from, to } = body.header;
    if (body.header.channel !== channel)
      throw new HttpError(400, 'malformed', 'envelope sent to the wrong channel');
    if (from === this.id || !this.senders.has(from)) {
      if (from !== this.id) this.onUnknownSender?.(from);
      throw new HttpError(403, 'unknown-member', `sender ${from} is not a configured member`);
    }
    if (to !== this.id) throw new HttpError(403, 'wrong-recipient', `envelope is addressed to ${to}`);
    if (this.blocked.has(from)) throw new HttpError(503, 'partitioned', 'partitioned from the sender (test)');
    if (!(await this.authenticator.verify(from, to, envelopeDigest(body.signed), body.signature))) {
      throw new HttpError(403, 'bad-signature', `signature does not verify for ${from}`);
    }
    const verdict = this.replay.accept(from, channel, body.header.counter);
    if (verdict !== 'ok') throw new HttpError(409, 'replay', `envelope counter rejected: ${verdict}`);
    let messages: Message[];
    try {
      messages = decodeMessages(body, this.limits);
    } catch (e) {
      throw new HttpError(400, 'malformed', e instanceof DecodeError ? e.message : 'undecodable messages');
    }
    const snapshots = messages.filter((m) => m.type === 'snapshot').length;
    if (channel === CHANNEL_SNAPSHOT ? snapshots !== 1 || messages.length !== 1 : snapshots !== 0) {
      throw new HttpError(400, 'malformed', 'snapshots travel alone on the snapshot channel');
    }
    try {
      this.deliver(messages);
    } catch (e) {
      throw new HttpError(400, 'refused-by-core', e instanceof Error ? e.message : 'refused');
    }
    return messages.length;
  }

  /**
   * Reads a message stream frame by frame, each through `receive` (verified on its own), in order.
   * A replayed or partitioned frame is dropped and the stream goes on (Raft retransmits); any other
   * refusal ends the stream with an HttpError, before anything after it is read.
   */
  private async receiveStream(req: Request, maxFrameBytes: number, onVerified: () => void): Promise<void> {
    const reader = new FrameReader(maxFrameBytes);
    for await (const chunk of req as AsyncIterable<Uint8Array>) {
      if (this.closed) throw new Error('transport closed');
      let frames: Uint8Array[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        const err =
          e instanceof FrameTooLargeError
            ? new HttpError(413, 'too-large', e.message)
            : new HttpError(400, 'malformed', e instanceof Error ? e.message : 'bad frame');
        this.drop(err.code, 1);
        throw err;
      }
      for (const frame of frames) {
        try {
          await this.receive(CHANNEL_MESSAGES, frame);
          onVerified();
        } catch (e) {
          const err = e instanceof HttpError ? e : new HttpError(500, 'malformed', 'internal error');
          this.drop(err.code, 1);
          if (err.code !== 'replay' && err.code !== 'partitioned' && err.code !== 'refused-by-core')
            throw err;
        }
      }
    }
    if (!reader.atBoundary) {
      this.drop('malformed', 1);
      throw new HttpError(400, 'malformed', 'stream ended inside a frame');
    }
  }

  private buildRouter(maxMessagesBody: number, firstFrameDeadlineMs: number): Router {
    const router = express.Router();
    const route = (channel: Channel) => async (req: Request, res: Response) => {
      try {
        await this.receive(channel, req.body);
        res.status(204).end();
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(500, 'malformed', 'internal error');
        this.drop(err.code, 1);
        res.status(err.status).json({ error: { code: err.code, message: err.message } });
      }
    };
    const raw = (limit: number) => express.raw({ type: () => true, limit });
    let snapshotBodies = 0;
    const admitSnapshot = (_req: Request, res: Response, next: NextFunction) => {
      if (snapshotBodies >= MAX_CONCURRENT_SNAPSHOT_BODIES) {
        this.drop('busy', 1);
        res.status(429).json({ error: { code: 'busy', message: 'too many snapshots in transfer; retry' } });
        return;
      }
      snapshotBodies++;
      res.once('close', () => snapshotBodies--);
      next();
    };
    router.post(RAFT_MESSAGES_PATH, raw(maxMessagesBody), route(CHANNEL_MESSAGES));
    let streams = 0;
    router.post(RAFT_STREAM_PATH, async (req: Request, res: Response) => {
      if (streams >= MAX_CONCURRENT_STREAMS) {
        this.drop('busy', 1);
        res.status(429).json({ error: { code: 'busy', message: 'too many message streams; retry' } });
        return;
      }
      streams++;
      this.incomingStreams.add(res);
      const deadline = setTimeout(() => {
        this.drop('malformed', 1);
        req.destroy(); // ends the read below with an error; the socket goes with it
      }, firstFrameDeadlineMs);
      try {
        await this.receiveStream(req, maxMessagesBody, () => clearTimeout(deadline));
        res.status(204).end();
      } catch (e) {
        if (e instanceof HttpError) {
          // Refused frame: answer and stop reading; the sender opens a new stream after a backoff.
          res
            .status(e.status)
            .set('connection', 'close')
            .json({ error: { code: e.code, message: e.message } });
        } else {
          res.destroy(); // the connection broke mid-stream: nobody to answer
        }
      } finally {
        clearTimeout(deadline);
        streams--;
        this.incomingStreams.delete(res);
      }
    });
    router.post(
      RAFT_SNAPSHOT_PATH,
      admitSnapshot,
      raw(this.limits.maxSnapshotBytes + 64 * 1024),
      route(CHANNEL_SNAPSHOT),
    );
    router.use(
      (err: { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
        if (err.type === 'entity.too.large') {
          this.drop('too-large', 1);
          res.status(413).json({ error: { code: 'too-large', message: 'body exceeds the size limit' } });
        } else if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
          this.drop('malformed', 1);
          res.status(err.status).json({ error: { code: 'malformed', message: 'unreadable request body' } });
        } else {
          next(err);
        }
      },
    );
    return router;
  }

  close(): void {
    this.closed = true;
    for (const a of this.inflight) a.abort();
    for (const res of this.incomingStreams) res.destroy();
    for (const s of this.senders.values()) s.close();
  }
}
