// The HSM audit log: one JSON line per key operation, append-only, hash-chained.
//
//   {"seq":1,"time":"2026-01-01T00:00:00.000Z","op":"generate","slot":"identity","detail":"ed25519",
//    "prevHash":"<64 hex>","hash":"<64 hex>"}
//
// hash = SHA-256("keyfleet/v1/hsm-audit" || 0x00 || the line's JSON without "hash", keys in the
// order above); prevHash is the previous line's hash, and the first line's prevHash is the genesis
// hash of this fleet and member, so a log cannot be moved to another HSM either. Each line must be
// byte-for-byte the canonical serialisation of its fields, so any edit, any line removed from the
// middle or the start, and any reordering breaks the chain at the first affected line.
//
// A hash chain alone shows consistency, not authenticity: whoever can write the file can rewrite it
// whole. Hence checkpoints: every CHECKPOINT_INTERVAL entries (and on close) the HSM appends a
// "checkpoint" line whose detail is its identity key's signature over (fleet, member, seq,
// prevHash); rewriting anything before the last checkpoint then needs the identity key. Removing
// lines from the end is only detectable against a head recorded elsewhere (`head` option).
//
// Durability: each line is written before the operation's result is returned (it survives a crash
// of the process); fsync runs in batches every `fsyncIntervalMs`, and at once for operations that
// create or import keys (the HSM awaits flush()), so a power loss can lose at most the last
// interval's lines of signing/OPAQUE operations.
//
// Bounded growth. Routine operations (a peer MAC per Raft envelope, i.e. per heartbeat) are not one
// line each: count() adds them to a per-(op, slot, detail) counter, and every `usageIntervalMs`,
// before every checkpoint and on close, each non-zero counter becomes one "usage" entry in the chain:
//   {"op":"usage","slot":"agreement","detail":"mac:peer-tag=5321,since=<ISO time>"}
// so the log still accounts for every use of every key (per key and purpose, per interval), at one
// line per interval instead of one per message. A process killed -9 loses at most the counts of the
// interval in progress; every key creation, import, export, unwrap, certificate and OPAQUE/escrow
// operation is still one entry of its own, written before the operation returns.
// The file itself rotates: past `maxBytes` the HSM appends a signed checkpoint, renames audit.log to
// audit.<last seq, 12 digits>.log and continues the same chain in a new audit.log (whose first
// entry is "segment"); only the newest `keepSegments` rotated files are kept. A retained suffix of
// the chain is still verifiable (verifyAuditSegments): it starts at its first line's prevHash, and
// every rotated segment ends with a checkpoint signed by the identity key, so nobody without that
// key can forge a suffix either.

import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ByteWriter } from '@keyfleet/sdk/bytes';
import { context } from '@keyfleet/sdk/hsm/aead';
import { base64url, ctEqual, fromBase64url, toHex, utf8 } from '@keyfleet/sdk/hsm/bytes';
import { Purpose, verifyWithPurpose } from '@keyfleet/sdk/hsm/keys';
import { sha256 } from '@noble/hashes/sha2.js';

export interface AuditEntry {
  readonly seq: number;
  /** ISO 8601 UTC, from the HSM's clock. */
  readonly time: string;
  readonly op: string;
  readonly slot: string;
  readonly detail: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export const CHECKPOINT_INTERVAL = 256;
export const DEFAULT_USAGE_INTERVAL_MS = 60_000;
export const DEFAULT_MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_KEEP_SEGMENTS = 8;
const SEGMENT_NAME = /^(.+)\.(\d{12})\.log$/;
const FIELDS = ['seq', 'time', 'op', 'slot', 'detail', 'prevHash', 'hash'] as const;
/** op, slot and detail are short ASCII tokens; JSON escaping never applies to them. */
const TOKEN = /^[A-Za-z0-9._:/=,+-]{0,160}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export class AuditLogError extends Error {
  override name = 'AuditLogError';
}

export function auditGenesisHash(fleet: string, member: string): string {
  return toHex(sha256(context('keyfleet/v1/hsm-audit-genesis', fleet, member)));
}

function bodyJson(e: Omit<AuditEntry, 'hash'>): string {
  return JSON.stringify({
    seq: e.seq,
    time: e.time,
    op: e.op,
    slot: e.slot,
    detail: e.detail,
    prevHash: e.prevHash,
  });
}

/** SHA-256 through node:crypto (OpenSSL): three entries per recovery on a leader's main thread. */
function entryHash(body: string): string {
  return createHash('sha256').update(`keyfleet/v1/hsm-audit\0${body}`, 'utf8').digest('hex');
}

/** What a checkpoint's signature covers. */
export function checkpointMessage(fleet: string, member: string, seq: number, prevHash: string): Uint8Array {
  return new ByteWriter(160).string8(fleet).string8(member).u64(seq).string8(prevHash).finish();
}

export interface AuditVerifyOptions {
  readonly fleet: string;
  readonly member: string;
  /** When given, every checkpoint's signature must verify under this identity key. */
  readonly identityPublicKey?: Uint8Array;
  /** A head recorded earlier: the log must contain it (detects removal from the end up to it). */
  readonly head?: AuditHead;
  /**
   * Where the text continues the chain (the head of the segment before it); default the genesis.
   * 'first-line': a retained suffix, taken to start at its first line's seq and prevHash.
   */
  readonly start?: AuditHead | 'first-line';
}

export type AuditVerification =
  | {
      readonly ok: true;
      readonly entries: number;
      readonly head: AuditHead;
      readonly checkpoints: number;
      /** Seq of the last checkpoint (0 when there is none): lines after it are not signed. */
      readonly lastCheckpoint: number;
      /** Bytes after the last newline: a line torn by a crash while it was written. */
      readonly tornTailBytes: number;
    }
  | { readonly ok: false; readonly line: number; readonly reason: string };

function parseLine(line: string): AuditEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== FIELDS.length || FIELDS.some((f, i) => keys[i] !== f)) return 'unexpected fields';
  const { seq, time, op, slot, detail, prevHash, hash } = o;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return 'seq is not a positive integer';
  if (typeof time !== 'string' || !ISO_TIME.test(time)) return 'time is not ISO 8601 UTC';
  for (const [name, s] of [
    ['op', op],
    ['slot', slot],
    ['detail', detail],
  ] as const) {
    if (typeof s !== 'string' || !TOKEN.test(s)) return `${name} is not a token`;
  }
  if (typeof prevHash !== 'string' || !HEX64.test(prevHash)) return 'prevHash is not 64 hex digits';
  if (typeof hash !== 'string' || !HEX64.test(hash)) return 'hash is not 64 hex digits';
  return o as unknown as AuditEntry;
}

function hexEqual(a: string, b: string): boolean {
  return ctEqual(utf8(a), utf8(b));
}

/** Checks a whole log's text. Any edit, reorder or removal (but from the very end) fails it. */
export function verifyAuditLog(text: string, o: AuditVerifyOptions): AuditVerification {
  const lastNewline = text.lastIndexOf('\n');
  const complete = text.slice(0, lastNewline + 1);
  const tornTailBytes = Buffer.byteLength(text.slice(lastNewline + 1));
  const lines = complete === '' ? [] : complete.slice(0, -1).split('\n');
  let prevHash = auditGenesisHash(o.fleet, o.member);
  let seq = 0;
  if (o.start === 'first-line') {
    const first = lines.length > 0 ? parseLine(lines[0]!) : null;
    if (typeof first === 'string') return { ok: false, line: 1, reason: first };
    if (first) {
      prevHash = first.prevHash;
      seq = first.seq - 1;
    }
  } else if (o.start) {
    prevHash = o.start.hash;
    seq = o.start.seq;
  }
  let checkpoints = 0;
  let lastCheckpoint = 0;
  let sawHead = o.head === undefined || o.head.seq <= seq;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fail = (reason: string): AuditVerification => ({ ok: false, line: i + 1, reason });
    const e = parseLine(line);
    if (typeof e === 'string') return fail(e);
    const body = bodyJson(e);
    if (`${body.slice(0, -1)},"hash":${JSON.stringify(e.hash)}}` !== line)
      return fail('not in canonical form');
    if (e.seq !== seq + 1) return fail(`seq ${e.seq} follows ${seq}: an entry is missing or out of order`);
    if (!hexEqual(e.prevHash, prevHash)) return fail('prevHash does not match the previous entry');
    if (!hexEqual(e.hash, entryHash(body))) return fail('hash does not match the entry: it was edited');
    if (e.op === 'checkpoint') {
      const signature = fromBase64url(e.detail);
      if (signature?.length !== 64) return fail('checkpoint without a signature');
      if (
        o.identityPublicKey &&
        !verifyWithPurpose(
          o.identityPublicKey,
          Purpose.auditCheckpoint,
          checkpointMessage(o.fleet, o.member, e.seq, e.prevHash),
          signature,
        )
      ) {
        return fail('checkpoint signature does not verify under the identity key');
      }
      checkpoints++;
      lastCheckpoint = e.seq;
    }
    if (o.head && e.seq === o.head.seq) {
      if (!hexEqual(e.hash, o.head.hash)) return fail('differs from the recorded head');
      sawHead = true;
    }
    prevHash = e.hash;
    seq = e.seq;
  }
  if (!sawHead)
    return { ok: false, line: lines.length, reason: `the recorded head ${o.head?.seq} is missing` };
  return {
    ok: true,
    entries: lines.length,
    head: { seq, hash: prevHash },
    checkpoints,
    lastCheckpoint,
    tornTailBytes,
  };
}

/** The rotated segments of the log at `path` (oldest first), then the file itself if present. */
export function auditLogFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path).replace(/\.log$/, '');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const segments = names.filter((n) => SEGMENT_NAME.exec(n)?.[1] === base).sort();
  return [...segments.map((n) => join(dir, n)), ...(names.includes(basename(path)) ? [path] : [])];
}

export type AuditSegmentsVerification =
  | (Extract<AuditVerification, { ok: true }> & {
      readonly files: number;
      /** True when the retained files start at the genesis; false for a retained suffix. */
      readonly fromGenesis: boolean;
    })
  | { readonly ok: false; readonly file: string; readonly line: number; readonly reason: string };

/**
 * Verifies the rotated segments and the current file of a log, in order, as one chain. A suffix
 * (older segments removed by retention) must start with a segment that ends in a checkpoint when
 * `identityPublicKey` is given, so its start is vouched for by the identity key.
 */
export function verifyAuditSegments(path: string, o: AuditVerifyOptions): AuditSegmentsVerification {
  const files = auditLogFiles(path);
  let start: AuditHead | 'first-line' = 'first-line';
  let fromGenesis = true;
  let entries = 0;
  let checkpoints = 0;
  let lastCheckpoint = 0;
  let last: Extract<AuditVerification, { ok: true }> | null = null;
  for (const [i, file] of files.entries()) {
    const text = readFileSync(file, 'utf8');
    const segmentLast = Number(SEGMENT_NAME.exec(basename(file))?.[2] ?? Number.MAX_SAFE_INTEGER);
    const startSeq = start === 'first-line' ? 0 : start.seq;
    // A recorded head is checked in the file that holds it (earlier ones may have been deleted).
    const head = o.head && o.head.seq > startSeq && o.head.seq <= segmentLast ? o.head : undefined;
    const v = verifyAuditLog(text, { ...o, start, head });
    if (!v.ok) return { ok: false, file, line: v.line, reason: v.reason };
    if (i < files.length - 1 && (v.tornTailBytes > 0 || v.head.seq !== segmentLast)) {
      return {
        ok: false,
        file,
        line: v.entries,
        reason: 'a rotated segment does not end where its name says',
      };
    }
    if (i === 0) {
      fromGenesis = text === '' || text.startsWith('{"seq":1,');
      if (!fromGenesis && o.identityPublicKey && v.checkpoints === 0) {
        return { ok: false, file, line: 1, reason: 'a retained suffix must hold a signed checkpoint' };
      }
    }
    entries += v.entries;
    checkpoints += v.checkpoints;
    if (v.lastCheckpoint > 0) lastCheckpoint = v.lastCheckpoint;
    start = v.head;
    last = v;
  }
  const head = last?.head ?? { seq: 0, hash: auditGenesisHash(o.fleet, o.member) };
  if (o.head && o.head.seq > head.seq) {
    return { ok: false, file: path, line: entries, reason: `the recorded head ${o.head.seq} is missing` };
  }
  return {
    ok: true,
    entries,
    head,
    checkpoints,
    lastCheckpoint,
    tornTailBytes: last?.tornTailBytes ?? 0,
    files: files.length,
    fromGenesis,
  };
}

export interface AuditLogOptions {
  readonly fleet: string;
  readonly member: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly fsyncIntervalMs?: number;
  /** How often counted operations become "usage" entries. */
  readonly usageIntervalMs?: number;
  /** Rotate the file once it reaches this size. */
  readonly maxBytes?: number;
  /** Rotated segments kept (the oldest are deleted). */
  readonly keepSegments?: number;
}

type CheckpointSigner = (message: Uint8Array) => Uint8Array;

/** A counted operation's fields: short tokens, so the usage entry's detail stays a token. */
const COUNTED_TOKEN = /^[A-Za-z0-9._/-]{1,64}$/;

interface Usage {
  readonly op: string;
  readonly slot: string;
  readonly detail: string;
  readonly since: number;
  n: number;
}

function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export class AuditLog {
  readonly #path: string;
  readonly #o: AuditLogOptions;
  #fd: number;
  #bytes: number;
  #seq: number;
  #hash: string;
  #sinceCheckpoint = 0;
  #signer: CheckpointSigner | null = null;
  #dirty = false;
  #syncing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #usage = new Map<string, Usage>();
  #usageTimer: NodeJS.Timeout | null = null;
  #rotating = false;
  #failed: Error | null = null;
  #closed = false;

  private constructor(path: string, fd: number, bytes: number, head: AuditHead, o: AuditLogOptions) {
    this.#path = path;
    this.#fd = fd;
    this.#bytes = bytes;
    this.#seq = head.seq;
    this.#hash = head.hash;
    this.#o = o;
  }

  /**
   * Opens (creating if absent) and verifies the log at `path`, continuing the chain of its newest
   * rotated segment if there is one. A torn last line (a crash during a write) is cut off and the
   * cut recorded; any other damage refuses to open.
   */
  static open(path: string, o: AuditLogOptions): AuditLog {
    const segments = auditLogFiles(path).filter((f) => f !== path);
    let start: AuditHead | undefined;
    const newest = segments[segments.length - 1];
    if (newest) {
      const v = verifyAuditLog(readFileSync(newest, 'utf8'), { ...o, start: 'first-line' });
      const named = Number(SEGMENT_NAME.exec(basename(newest))?.[2]);
      if (!v.ok || v.tornTailBytes > 0 || v.head.seq !== named) {
        throw new AuditLogError(
          `${newest}: ${v.ok ? 'does not end where its name says' : `line ${v.line}: ${v.reason}`}; refusing to continue the log`,
        );
      }
      start = v.head;
    }
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const v = verifyAuditLog(text, { ...o, ...(start ? { start } : {}) });
    if (!v.ok) throw new AuditLogError(`${path} line ${v.line}: ${v.reason}; refusing to continue the log`);
    const fd = openSync(path, 'a', 0o600);
    if (text === '') fsyncDir(dirname(path));
    const size = Buffer.byteLength(text) - v.tornTailBytes;
    const log = new AuditLog(path, fd, size, v.head, o);
    if (v.tornTailBytes > 0) {
      ftruncateSync(fd, size);
      log.append('truncate-torn-tail', '-', `bytes=${v.tornTailBytes}`);
    }
    return log;
  }

  /** Once set, checkpoints are signed with it (the HSM's identity key, Purpose.auditCheckpoint). */
  setCheckpointSigner(signer: CheckpointSigner): void {
    this.#signer = signer;
  }

  head(): AuditHead {
    return { seq: this.#seq, hash: this.#hash };
  }

  #usable(): void {
    if (this.#closed) throw new AuditLogError('the audit log is closed');
    if (this.#failed) throw new AuditLogError(`the audit log failed earlier: ${this.#failed.message}`);
  }

  /** Appends one entry; throws (and the operation must fail) when the log cannot be written. */
  append(op: string, slot: string, detail = ''): AuditEntry {
    this.#usable();
    for (const s of [op, slot, detail]) {
      if (!TOKEN.test(s)) throw new AuditLogError(`audit field ${JSON.stringify(s)} is not a token`);
    }
    const body = {
      seq: this.#seq + 1,
      time: new Date(this.#o.now()).toISOString(),
      op,
      slot,
      detail,
      prevHash: this.#hash,
    };
    const json = bodyJson(body);
    const hash = entryHash(json);
    const line = `${json.slice(0, -1)},"hash":"${hash}"}\n`;
    try {
      writeSync(this.#fd, line);
    } catch (e) {
      this.#failed = e as Error;
      throw e;
    }
    this.#seq = body.seq;
    this.#hash = hash;
    this.#bytes += Buffer.byteLength(line);
    this.#scheduleSync();
    if (op !== 'checkpoint' && ++this.#sinceCheckpoint >= CHECKPOINT_INTERVAL) this.checkpoint();
    if (!this.#rotating && this.#bytes >= (this.#o.maxBytes ?? DEFAULT_MAX_SEGMENT_BYTES)) this.#rotate();
    return { ...body, hash };
  }

  /**
   * Counts one routine operation instead of appending it: it appears in the next "usage" entry for
   * its (op, slot, detail). Throws like append() when the log is closed or failed.
   */
  count(op: string, slot: string, detail: string): void {
    this.#usable();
    for (const s of [op, slot, detail]) {
      if (!COUNTED_TOKEN.test(s)) throw new AuditLogError(`audit field ${JSON.stringify(s)} is not a token`);
    }
    const key = `${op}\0${slot}\0${detail}`;
    const u = this.#usage.get(key);
    if (u) u.n++;
    else this.#usage.set(key, { op, slot, detail, since: this.#o.now(), n: 1 });
    if (this.#usageTimer) return;
    this.#usageTimer = setTimeout(() => {
      this.#usageTimer = null;
      try {
        this.#flushUsage();
      } catch {
        // The log is failed or closed: the next operation reports it.
      }
    }, this.#o.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS);
    this.#usageTimer.unref();
  }

  /** Writes every non-zero counter as a "usage" entry and starts new counts. */
  #flushUsage(): void {
    if (this.#usage.size === 0) return;
    const counted = [...this.#usage.values()];
    this.#usage.clear();
    for (const u of counted) {
      this.append('usage', u.slot, `${u.op}:${u.detail}=${u.n},since=${new Date(u.since).toISOString()}`);
    }
  }

  /** Appends a signed checkpoint, usage counts first (a no-op until a signer is set). */
  checkpoint(): void {
    if (!this.#signer) return;
    this.#flushUsage();
    const signature = this.#signer(
      checkpointMessage(this.#o.fleet, this.#o.member, this.#seq + 1, this.#hash),
    );
    this.#sinceCheckpoint = 0;
    this.append('checkpoint', 'identity', base64url(signature));
  }

  /**
   * Ends this file with the counts and a signed checkpoint, renames it after its last seq, and
   * continues the chain in a new file; then deletes rotated segments beyond `keepSegments`.
   */
  #rotate(): void {
    this.#rotating = true;
    try {
      this.#flushUsage();
      this.checkpoint();
      const old = this.#fd;
      fsyncSync(old);
      const dir = dirname(this.#path);
      const rotated = join(
        dir,
        `${basename(this.#path).replace(/\.log$/, '')}.${String(this.#seq).padStart(12, '0')}.log`,
      );
      renameSync(this.#path, rotated);
      this.#fd = openSync(this.#path, 'a', 0o600);
      fsyncDir(dir);
      // A batched fsync may still be running on the old descriptor: close it after that.
      if (this.#syncing) void this.#syncing.catch(() => {}).finally(() => closeSync(old));
      else closeSync(old);
      this.#bytes = fstatSync(this.#fd).size;
      const segments = auditLogFiles(this.#path).filter((f) => f !== this.#path);
      const keep = this.#o.keepSegments ?? DEFAULT_KEEP_SEGMENTS;
      for (const f of segments.slice(0, Math.max(0, segments.length - keep))) rmSync(f);
      this.append('segment', '-', `after=${this.#seq}`);
    } catch (e) {
      this.#failed ??= e as Error;
      throw e;
    } finally {
      this.#rotating = false;
    }
  }

  #scheduleSync(): void {
    this.#dirty = true;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush().catch(() => {});
    }, this.#o.fsyncIntervalMs ?? 50);
    this.#timer.unref();
  }

  /** Resolves when every line appended so far is on stable storage. */
  async flush(): Promise<void> {
    while (this.#dirty || this.#syncing) {
      if (this.#syncing) {
        await this.#syncing;
        continue;
      }
      this.#dirty = false;
      this.#syncing = new Promise<void>((resolve, reject) =>
        fsync(this.#fd, (err) => {
          this.#syncing = null;
          if (err) {
            this.#failed = err;
            reject(err);
          } else resolve();
        }),
      );
      await this.#syncing;
    }
    if (this.#failed) throw this.#failed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flushUsage();
    if (this.#sinceCheckpoint > 0) this.checkpoint();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#usageTimer) clearTimeout(this.#usageTimer);
    this.#timer = null;
    this.#usageTimer = null;
    await this.flush();
    closeSync(this.#fd);
  }
}
