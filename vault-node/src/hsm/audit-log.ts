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

import { closeSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
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

function entryHash(body: string): string {
  return toHex(sha256(utf8(`keyfleet/v1/hsm-audit\0${body}`)));
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
  let checkpoints = 0;
  let lastCheckpoint = 0;
  let sawHead = o.head === undefined || o.head.seq === 0;
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

export interface AuditLogOptions {
  readonly fleet: string;
  readonly member: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly fsyncIntervalMs?: number;
}

type CheckpointSigner = (message: Uint8Array) => Uint8Array;

export class AuditLog {
  readonly #fd: number;
  readonly #o: AuditLogOptions;
  #seq: number;
  #hash: string;
  #sinceCheckpoint = 0;
  #signer: CheckpointSigner | null = null;
  #dirty = false;
  #syncing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failed: Error | null = null;
  #closed = false;

  private constructor(fd: number, head: AuditHead, o: AuditLogOptions) {
    this.#fd = fd;
    this.#seq = head.seq;
    this.#hash = head.hash;
    this.#o = o;
  }

  /**
   * Opens (creating if absent) and verifies the log at `path`. A torn last line (a crash during a
   * write) is cut off and the cut recorded; any other damage refuses to open.
   */
  static open(path: string, o: AuditLogOptions): AuditLog {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const v = verifyAuditLog(text, o);
    if (!v.ok) throw new AuditLogError(`${path} line ${v.line}: ${v.reason}; refusing to continue the log`);
    const created = text === '';
    const fd = openSync(path, 'a', 0o600);
    if (created) {
      const dfd = openSync(dirname(path), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    }
    const log = new AuditLog(fd, v.head, o);
    if (v.tornTailBytes > 0) {
      ftruncateSync(fd, Buffer.byteLength(text) - v.tornTailBytes);
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

  /** Appends one entry; throws (and the operation must fail) when the log cannot be written. */
  append(op: string, slot: string, detail = ''): AuditEntry {
    if (this.#closed) throw new AuditLogError('the audit log is closed');
    if (this.#failed) throw new AuditLogError(`the audit log failed earlier: ${this.#failed.message}`);
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
    this.#scheduleSync();
    if (op !== 'checkpoint' && ++this.#sinceCheckpoint >= CHECKPOINT_INTERVAL) this.checkpoint();
    return { ...body, hash };
  }

  /** Appends a signed checkpoint (a no-op until a signer is set). */
  checkpoint(): void {
    if (!this.#signer) return;
    const signature = this.#signer(
      checkpointMessage(this.#o.fleet, this.#o.member, this.#seq + 1, this.#hash),
    );
    this.#sinceCheckpoint = 0;
    this.append('checkpoint', 'identity', base64url(signature));
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
    if (this.#sinceCheckpoint > 0) this.checkpoint();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
    closeSync(this.#fd);
  }
}
