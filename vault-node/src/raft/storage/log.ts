// The durable Raft log: append-only segment files of checksummed, length-framed records.
//
// Segment file  = header (16 bytes: magic "KFRWAL01", u32 sequence, u32 CRC-32C of the first 12)
//                 followed by frames.
// Frame         = u32 payload length | u32 CRC-32C of those 4 length bytes | u32 CRC-32C of payload
//                 | payload. The length has its own check so a flipped length bit is recognised as
//                 corruption, not mistaken for a record that runs past the end of the file.
// Payload kinds = 1 entries (a batch appended in one write), 2 commit index, 3 reset after an
//                 installed snapshot.
//
// Nothing is ever rewritten in place. A conflicting tail is truncated logically: on replay, a batch
// whose first index is at or below the last index replaces everything from that index on, so
// truncate-then-append is a single atomic record and a crash cannot lose the prefix. The dead tail's
// bytes go when compaction deletes their segment.
//
// Recovery rules (see isTornWrite): damage confined to the end of the last segment, explained by a
// write that did not fully reach the disk (the file ends inside a frame, or the end is zero-filled
// from a sector boundary on), is a torn tail: cut off, reported, never acknowledged (we fsync before
// acknowledging). Anything else that fails a check — in an earlier segment, or followed by more
// data — is corruption, and opening the log fails with the file and offset. It is never skipped.

import { open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import type { Entry } from '../types.ts';
import { ENTRY_MIN_BYTES, readEntry, writeEntry } from './bytes.ts';
import { crc32c } from './crc32c.ts';
import { type FsyncObserver, fsyncDir, timedSync } from './fsync.ts';

const MAGIC = new TextEncoder().encode('KFRWAL01');
const SEGMENT_HEADER_BYTES = 16;
const FRAME_HEADER_BYTES = 12;
const SECTOR = 512;
export const MAX_FRAME_PAYLOAD = 64 * 1024 * 1024;
export const MAX_ENTRY_DATA = 16 * 1024 * 1024;
const SEGMENT_NAME = /^wal-([0-9a-f]{16})\.log$/;

const KIND_ENTRIES = 1;
const KIND_COMMIT = 2;
const KIND_RESET = 3;

/** Startup refuses to go on: the log is damaged where a crash cannot explain it. */
export class CorruptLogError extends Error {
  override name = 'CorruptLogError';
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super(
      `Raft log corrupted in ${file} at byte offset ${offset}: ${reason}. Refusing to start: this ` +
        'record may hold acknowledged data. Move the data directory aside and let the member catch up ' +
        'from the leader (it is re-added as a fresh member), or restore it from a backup.',
    );
    this.file = file;
    this.offset = offset;
  }
}

export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly droppedBytes: number;
  readonly reason: string;
}

export interface LogReplay {
  /** Entries in index order, conflicting tails and snapshot resets already applied. */
  readonly entries: Entry[];
  /** The highest commit index recorded in the log (0 if none). */
  readonly commit: number;
  /** Last snapshot installed from a leader (the log was emptied there). */
  readonly reset?: { readonly index: number; readonly term: number };
  readonly torn: TornTail[];
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  size: number;
  /** Highest entry index written into this segment (0 if none): decides compaction. */
  maxIndex: number;
}

export interface LogOptions {
  /** Roll to a new segment file once the active one exceeds this many bytes. */
  readonly segmentBytes?: number;
  readonly observeFsync?: FsyncObserver;
}

function frame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_PAYLOAD)
    throw new RangeError(`log record of ${payload.length} bytes too large`);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32c(out.subarray(0, 4)), true);
  view.setUint32(8, crc32c(payload), true);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function entriesRecord(entries: readonly Entry[]): Uint8Array {
  const w = new ByteWriter(64 + entries.reduce((n, e) => n + ENTRY_MIN_BYTES + e.data.length, 0));
  w.u8(KIND_ENTRIES).u32(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (i > 0 && e.index !== entries[i - 1]!.index + 1) throw new RangeError('entries must be contiguous');
    if (e.data.length > MAX_ENTRY_DATA) throw new RangeError(`entry ${e.index} data too large`);
    writeEntry(w, e);
  }
  return frame(w.finish());
}

export function commitRecord(commit: number): Uint8Array {
  return frame(new ByteWriter(16).u8(KIND_COMMIT).u64(commit).finish());
}

export function resetRecord(index: number, term: number): Uint8Array {
  return frame(new ByteWriter(24).u8(KIND_RESET).u64(index).u64(term).finish());
}

function segmentHeader(seq: number): Uint8Array {
  const out = new Uint8Array(SEGMENT_HEADER_BYTES);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, seq, true);
  view.setUint32(12, crc32c(out.subarray(0, 12)), true);
  return out;
}

const segmentName = (seq: number) => `wal-${seq.toString(16).padStart(16, '0')}.log`;

/** Offset from which the buffer is zero to its end (buf.length if its last byte is non-zero). */
function zeroTailStart(buf: Uint8Array): number {
  let i = buf.length;
  while (i > 0 && buf[i - 1] === 0) i--;
  return i;
}

/**
 * Decides whether damage found at `offset` in the LAST segment is a torn write (true) or corruption.
 * `frameEnd` is where the frame claims to end when its header is intact.
 */
function isTornWrite(buf: Uint8Array, offset: number, frameEnd: number | undefined): boolean {
  const zeros = zeroTailStart(buf);
  if (zeros <= offset) return true; // nothing but zeros from here: space the file system extended
  if (buf.length - offset < FRAME_HEADER_BYTES) return true; // header itself cut short
  if (frameEnd !== undefined && frameEnd > buf.length) return true; // payload cut short
  // A frame that is complete but fails its checks is torn only if whole sectors at its end never
  // reached the disk (read back as zeros) and nothing but those zeros follows it.
  const unwrittenFrom = Math.ceil(zeros / SECTOR) * SECTOR;
  if (unwrittenFrom >= buf.length) return false;
  return frameEnd === undefined || unwrittenFrom < frameEnd;
}

class Replayer {
  entries: Entry[] = [];
  commit = 0;
  reset: { index: number; term: number } | undefined;

  private lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return last ? last.index : (this.reset?.index ?? 0);
  }

  appendBatch(batch: Entry[]): string | undefined {
    const first = batch[0];
    if (!first) return undefined;
    const have = this.entries[0];
    if (!have) {
      if (this.reset && first.index > this.reset.index + 1) {
        return `entries start at ${first.index} after a snapshot reset at ${this.reset.index}`;
      }
      this.entries = batch.filter((e) => !this.reset || e.index > this.reset.index);
      return undefined;
    }
    if (first.index > this.lastIndex() + 1) {
      return `gap in the log: entries start at ${first.index} but the log ends at ${this.lastIndex()}`;
    }
    if (first.index < have.index) this.entries = [];
    else this.entries.length = first.index - have.index;
    this.entries.push(...batch);
    return undefined;
  }

  /** A snapshot from the leader replaces the whole log (types.ts, Ready.snapshot). */
  applyReset(index: number, term: number): void {
    this.entries = [];
    this.reset = { index, term };
    this.commit = Math.max(this.commit, index);
  }
}

interface ParseOutcome {
  maxIndex: number;
  /** Where valid data ends when the rest was a torn write. */
  tornAt?: { offset: number; reason: string };
}

function parseSegment(path: string, buf: Uint8Array, isLast: boolean, replay: Replayer): ParseOutcome {
  const corrupt = (offset: number, reason: string) => new CorruptLogError(path, offset, reason);
  let maxIndex = 0;
  let off = SEGMENT_HEADER_BYTES;
  while (off < buf.length) {
    const damaged = (reason: string, frameEnd?: number): ParseOutcome => {
      if (isLast && isTornWrite(buf, off, frameEnd)) return { maxIndex, tornAt: { offset: off, reason } };
      throw corrupt(off, reason);
    };
    if (buf.length - off < FRAME_HEADER_BYTES) return damaged('record header cut short');
    const view = new DataView(buf.buffer, buf.byteOffset + off, FRAME_HEADER_BYTES);
    const len = view.getUint32(0, true);
    if (view.getUint32(4, true) !== crc32c(buf.subarray(off, off + 4))) {
      return damaged('record length fails its checksum');
    }
    if (len > MAX_FRAME_PAYLOAD) throw corrupt(off, `record length ${len} exceeds ${MAX_FRAME_PAYLOAD}`);
    const end = off + FRAME_HEADER_BYTES + len;
    if (end > buf.length) return damaged(`record of ${len} bytes runs past the end of the file`, end);
    const payload = buf.subarray(off + FRAME_HEADER_BYTES, end);
    if (view.getUint32(8, true) !== crc32c(payload)) return damaged('record payload fails its checksum', end);
    // From here the bytes are exactly what we wrote, so a decoding failure is a bug or tampering.
    try {
      const r = new ByteReader(payload);
      const kind = r.u8('record kind');
      if (kind === KIND_ENTRIES) {
        const n = r.count('entries', MAX_FRAME_PAYLOAD, ENTRY_MIN_BYTES);
        const batch: Entry[] = [];
        for (let i = 0; i < n; i++) {
          const e = readEntry(r, MAX_ENTRY_DATA);
          if (i > 0 && e.index !== batch[i - 1]!.index + 1) throw new DecodeError('entries not contiguous');
          batch.push(e);
          maxIndex = Math.max(maxIndex, e.index);
        }
        const problem = replay.appendBatch(batch);
        if (problem) throw corrupt(off, problem);
      } else if (kind === KIND_COMMIT) {
        replay.commit = Math.max(replay.commit, r.u64('commit'));
      } else if (kind === KIND_RESET) {
        const index = r.u64('reset index');
        replay.applyReset(index, r.u64('reset term'));
      } else {
        throw new DecodeError(`unknown record kind ${kind}`);
      }
      r.end('record');
    } catch (e) {
      if (e instanceof DecodeError)
        throw corrupt(off, `record passes its checksum but does not decode: ${e.message}`);
      throw e;
    }
    off = end;
  }
  return { maxIndex };
}

export class SegmentedLog {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly observeFsync: FsyncObserver | undefined;
  private readonly segments: Segment[];
  private active: Awaited<ReturnType<typeof open>>;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    dir: string,
    options: LogOptions,
    segments: Segment[],
    active: Awaited<ReturnType<typeof open>>,
  ) {
    this.dir = dir;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.observeFsync = options.observeFsync;
    this.segments = segments;
    this.active = active;
  }

  /** Opens (creating if needed) the log in `dir`, replays it, and cuts off a torn tail. */
  static async open(
    dir: string,
    options: LogOptions = {},
  ): Promise<{ log: SegmentedLog; replay: LogReplay }> {
    const names = (await readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const replay = new Replayer();
    const torn: TornTail[] = [];
    const segments: Segment[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const path = join(dir, name);
      const seq = Number.parseInt(SEGMENT_NAME.exec(name)![1]!, 16);
      const isLast = i === names.length - 1;
      const buf = new Uint8Array(await readFile(path));
      const header = buf.subarray(0, SEGMENT_HEADER_BYTES);
      const headerOk =
        buf.length >= SEGMENT_HEADER_BYTES &&
        MAGIC.every((b, j) => header[j] === b) &&
        new DataView(buf.buffer, buf.byteOffset).getUint32(12, true) === crc32c(header.subarray(0, 12)) &&
        new DataView(buf.buffer, buf.byteOffset).getUint32(8, true) === seq;
      if (!headerOk) {
        // A segment is created with its header fsynced before any record goes in, so only a crash
        // during creation leaves a short or zeroed header: that file holds nothing acknowledged.
        if (isLast && (buf.length < SEGMENT_HEADER_BYTES || zeroTailStart(buf) === 0)) {
          await rm(path);
          await fsyncDir(dir, options.observeFsync);
          torn.push({
            file: path,
            offset: 0,
            droppedBytes: buf.length,
            reason: 'segment header never completed',
          });
          continue;
        }
        throw new CorruptLogError(path, 0, 'segment header is not a keyfleet Raft log header for this file');
      }
      const outcome = parseSegment(path, buf, isLast, replay);
      let size = buf.length;
      if (outcome.tornAt) {
        const { offset, reason } = outcome.tornAt;
        await truncate(path, offset);
        const fh = await open(path, 'r+');
        await timedSync(fh, options.observeFsync).finally(() => fh.close());
        torn.push({ file: path, offset, droppedBytes: buf.length - offset, reason });
        size = offset;
      }
      segments.push({ seq, path, size, maxIndex: outcome.maxIndex });
    }
    let active: Awaited<ReturnType<typeof open>>;
    const last = segments[segments.length - 1];
    if (last) {
      active = await open(last.path, 'a');
    } else {
      const created = await SegmentedLog.createSegment(dir, 1, options.observeFsync);
      segments.push(created.segment);
      active = created.fh;
    }
    const log = new SegmentedLog(dir, options, segments, active);
    const result: LogReplay = { entries: replay.entries, commit: replay.commit, torn };
    return { log, replay: replay.reset ? { ...result, reset: replay.reset } : result };
  }

  private static async createSegment(dir: string, seq: number, observe: FsyncObserver | undefined) {
    const path = join(dir, segmentName(seq));
    const fh = await open(path, 'wx', 0o600);
    await fh.write(segmentHeader(seq));
    await timedSync(fh, observe);
    await fsyncDir(dir, observe);
    return { fh, segment: { seq, path, size: SEGMENT_HEADER_BYTES, maxIndex: 0 } };
  }

  /** Serialises log operations: appends, rolls and compaction never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes the records in one write and fdatasyncs before resolving: once this resolves, they
   * survive a crash. `maxIndex` is the highest entry index among them (0 if none).
   */
  append(records: readonly Uint8Array[], maxIndex: number): Promise<void> {
    return this.exclusive(async () => {
      if (records.length === 0) return;
      const buf = records.length === 1 ? records[0]! : Buffer.concat(records);
      await this.active.write(buf);
      await timedSync(this.active, this.observeFsync);
      const seg = this.segments[this.segments.length - 1]!;
      seg.size += buf.length;
      seg.maxIndex = Math.max(seg.maxIndex, maxIndex);
      if (seg.size >= this.segmentBytes) await this.roll();
    });
  }

  private async roll(): Promise<void> {
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const created = await SegmentedLog.createSegment(this.dir, seq, this.observeFsync);
    await this.active.close();
    this.active = created.fh;
    this.segments.push(created.segment);
  }

  /**
   * Deletes whole segments whose entries are all at or below `index` (covered by a durable
   * snapshot). The active segment is rolled first if it is entirely covered, so space comes back.
   */
  compact(index: number): Promise<number> {
    return this.exclusive(async () => {
      const activeSeg = this.segments[this.segments.length - 1]!;
      if (activeSeg.maxIndex > 0 && activeSeg.maxIndex <= index) await this.roll();
      let removed = 0;
      while (this.segments.length > 1 && this.segments[0]!.maxIndex <= index) {
        await rm(this.segments.shift()!.path);
        removed++;
      }
      if (removed > 0) await fsyncDir(this.dir, this.observeFsync);
      return removed;
    });
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  close(): Promise<void> {
    return this.exclusive(() => this.active.close());
  }
}
