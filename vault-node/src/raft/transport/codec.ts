// Wire format of Raft peer traffic. One HTTP body carries one signed envelope:
//
//   body     = u16 signature length | signature | envelope
//   envelope = "KFRM" | u8 version (1) | u8 channel | string from | string to | u64 counter
//              | u32 message count | message*
//   message  = u8 type | u64 term | u16 field flags | the fields the flags name, in flag order
//
// The signature covers the whole envelope, so sender, recipient, replay counter and every
// message's term are bound to it. A message's from/to are not repeated: they are the envelope's,
// which is what stops a signed batch for one member being replayed at another. The decoder trusts
// no length: each is bounded by a limit and by the bytes actually left.

import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import {
  ENTRY_MIN_BYTES,
  readEntry,
  readMemberId,
  readSnapshotMetadata,
  writeEntry,
  writeSnapshotMetadata,
} from '../storage/bytes.ts';
import type { Entry, MemberId, Message, MessageType } from '../types.ts';

export { DecodeError };

const MAGIC = new TextEncoder().encode('KFRM');
const VERSION = 1;
export const MAX_SIGNATURE_BYTES = 1024;

export const CHANNEL_MESSAGES = 1;
export const CHANNEL_SNAPSHOT = 2;
export type Channel = typeof CHANNEL_MESSAGES | typeof CHANNEL_SNAPSHOT;

export interface CodecLimits {
  /** Messages in one envelope. */
  readonly maxMessages: number;
  /** Entries in one message. */
  readonly maxEntries: number;
  /** Bytes of one entry's data. */
  readonly maxEntryBytes: number;
  /** Bytes of a snapshot's data. */
  readonly maxSnapshotBytes: number;
  /** Bytes of a ReadIndex / heartbeat context. */
  readonly maxContextBytes: number;
}

export const DEFAULT_LIMITS: CodecLimits = {
  maxMessages: 4096,
  maxEntries: 65536,
  maxEntryBytes: 1024 * 1024,
  maxSnapshotBytes: 16 * 1024 * 1024,
  maxContextBytes: 1024,
};

const MESSAGE_TYPES: readonly MessageType[] = [
  'pre-vote',
  'pre-vote-response',
  'vote',
  'vote-response',
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'snapshot',
  'snapshot-response',
  'timeout-now',
  'read-index',
  'read-index-response',
  'propose',
  'commit',
];

const F_INDEX = 1 << 0;
const F_LOG_TERM = 1 << 1;
const F_COMMIT = 1 << 2;
const F_REJECT_HINT = 1 << 3;
const F_HINT_TERM = 1 << 4;
const F_ENTRIES = 1 << 5;
const F_CONTEXT = 1 << 6;
const F_SNAPSHOT = 1 << 7;
const F_REJECT = 1 << 8;
const F_REJECT_FALSE = 1 << 9;
const F_KNOWN = (1 << 10) - 1;

/** type(1) + term(8) + flags(2). */
const MESSAGE_MIN_BYTES = 11;

export interface EnvelopeHeader {
  readonly channel: Channel;
  readonly from: MemberId;
  readonly to: MemberId;
  readonly counter: number;
}

export interface SignedBody {
  readonly signature: Uint8Array;
  /** The envelope bytes the signature covers. */
  readonly signed: Uint8Array;
  readonly header: EnvelopeHeader;
  /** Where the message count starts inside `signed`. */
  readonly messagesAt: number;
}

/** Encodes the envelope (the bytes to sign). Every message must be from `from` to `to`. */
export function encodeEnvelope(header: EnvelopeHeader, messages: readonly Message[]): Uint8Array {
  const size = messages.reduce(
    (n, m) =>
      n +
      64 +
      (m.entries?.reduce((k, e) => k + ENTRY_MIN_BYTES + e.data.length, 0) ?? 0) +
      (m.snapshot?.data.length ?? 0),
    64,
  );
  const w = new ByteWriter(size);
  w.raw(MAGIC).u8(VERSION).u8(header.channel).string16(header.from).string16(header.to).u64(header.counter);
  w.u32(messages.length);
  for (const m of messages) {
    if (m.from !== header.from || m.to !== header.to) {
      throw new Error(
        `message ${m.type} ${m.from}->${m.to} does not belong in envelope ${header.from}->${header.to}`,
      );
    }
    writeMessage(w, m);
  }
  return w.finish();
}

function writeMessage(w: ByteWriter, m: Message): void {
  let flags = 0;
  if (m.index !== undefined) flags |= F_INDEX;
  if (m.logTerm !== undefined) flags |= F_LOG_TERM;
  if (m.commit !== undefined) flags |= F_COMMIT;
  if (m.rejectHint !== undefined) flags |= F_REJECT_HINT;
  if (m.hintTerm !== undefined) flags |= F_HINT_TERM;
  if (m.entries !== undefined) flags |= F_ENTRIES;
  if (m.context !== undefined) flags |= F_CONTEXT;
  if (m.snapshot !== undefined) flags |= F_SNAPSHOT;
  if (m.reject === true) flags |= F_REJECT;
  if (m.reject === false) flags |= F_REJECT_FALSE;
  w.u8(MESSAGE_TYPES.indexOf(m.type)).u64(m.term).u16(flags);
  if (m.index !== undefined) w.u64(m.index);
  if (m.logTerm !== undefined) w.u64(m.logTerm);
  if (m.commit !== undefined) w.u64(m.commit);
  if (m.rejectHint !== undefined) w.u64(m.rejectHint);
  if (m.hintTerm !== undefined) w.u64(m.hintTerm);
  if (m.entries !== undefined) {
    w.u32(m.entries.length);
    for (const e of m.entries) writeEntry(w, e);
  }
  if (m.context !== undefined) w.bytes32(m.context);
  if (m.snapshot !== undefined) {
    writeSnapshotMetadata(w, m.snapshot.metadata);
    w.bytes32(m.snapshot.data);
  }
}

export function encodeBody(signature: Uint8Array, signed: Uint8Array): Uint8Array {
  if (signature.length > MAX_SIGNATURE_BYTES) throw new RangeError('signature too long');
  return new ByteWriter(2 + signature.length + signed.length)
    .u16(signature.length)
    .raw(signature)
    .raw(signed)
    .finish();
}

/** Splits a body into signature and envelope and reads the envelope header (not yet trusted). */
export function decodeSignedBody(body: Uint8Array): SignedBody {
  const r = new ByteReader(body);
  const sigLen = r.u16('signature length');
  if (sigLen === 0 || sigLen > MAX_SIGNATURE_BYTES) throw new DecodeError(`signature length ${sigLen}`);
  const signature = r.raw(sigLen, 'signature');
  const signed = body.subarray(r.offset);
  const e = new ByteReader(signed);
  const magic = e.raw(4, 'magic');
  if (!MAGIC.every((b, i) => magic[i] === b)) throw new DecodeError('not a keyfleet Raft envelope');
  const version = e.u8('version');
  if (version !== VERSION) throw new DecodeError(`unsupported envelope version ${version}`);
  const channel = e.u8('channel');
  if (channel !== CHANNEL_MESSAGES && channel !== CHANNEL_SNAPSHOT)
    throw new DecodeError(`unknown channel ${channel}`);
  const from = readMemberId(e, 'from');
  const to = readMemberId(e, 'to');
  const counter = e.u64('counter');
  return { signature, signed, header: { channel, from, to, counter }, messagesAt: e.offset };
}

/** Decodes the messages of an envelope whose signature has been verified. */
export function decodeMessages(body: SignedBody, limits: CodecLimits = DEFAULT_LIMITS): Message[] {
  const r = new ByteReader(body.signed.subarray(body.messagesAt));
  const n = r.count('messages', limits.maxMessages, MESSAGE_MIN_BYTES);
  const out: Message[] = [];
  for (let i = 0; i < n; i++) out.push(readMessage(r, body.header, limits));
  r.end('envelope');
  return out;
}

function readMessage(r: ByteReader, h: EnvelopeHeader, limits: CodecLimits): Message {
  const t = r.u8('message type');
  const type = MESSAGE_TYPES[t];
  if (type === undefined) throw new DecodeError(`unknown message type ${t}`);
  const term = r.u64('term');
  const flags = r.u16('flags');
  if ((flags & ~F_KNOWN) !== 0) throw new DecodeError(`unknown message flags ${flags.toString(16)}`);
  if (flags & F_REJECT && flags & F_REJECT_FALSE) throw new DecodeError('contradictory reject flags');
  const m: {
    -readonly [K in keyof Message]: Message[K];
  } = { type, from: h.from, to: h.to, term };
  if (flags & F_INDEX) m.index = r.u64('index');
  if (flags & F_LOG_TERM) m.logTerm = r.u64('logTerm');
  if (flags & F_COMMIT) m.commit = r.u64('commit');
  if (flags & F_REJECT_HINT) m.rejectHint = r.u64('rejectHint');
  if (flags & F_HINT_TERM) m.hintTerm = r.u64('hintTerm');
  if (flags & F_ENTRIES) {
    const count = r.count('entries', limits.maxEntries, ENTRY_MIN_BYTES);
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const e = readEntry(r, limits.maxEntryBytes);
      if (i > 0 && e.index !== entries[i - 1]!.index + 1) throw new DecodeError('entries are not contiguous');
      entries.push(e);
    }
    m.entries = entries;
  }
  if (flags & F_CONTEXT) m.context = r.bytes32('context', limits.maxContextBytes);
  if (flags & F_SNAPSHOT) {
    const metadata = readSnapshotMetadata(r);
    m.snapshot = { metadata, data: r.bytes32('snapshot data', limits.maxSnapshotBytes) };
  }
  if (flags & F_REJECT) m.reject = true;
  if (flags & F_REJECT_FALSE) m.reject = false;
  return m;
}
