// Snapshot files: `snap-<index>-<term>.snap` (hex), written atomically, checksummed as a whole.
// Layout: magic "KFRSNP01" | u32 CRC-32C of the body | body = metadata | u32 length | data.

import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import type { Snapshot } from '../types.ts';
import { readSnapshotMetadata, writeSnapshotMetadata } from './bytes.ts';
import { crc32c } from './crc32c.ts';
import { type FsyncObserver, fsyncDir, writeFileAtomic } from './fsync.ts';

const MAGIC = new TextEncoder().encode('KFRSNP01');
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;
const SNAPSHOT_NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export class CorruptSnapshotError extends Error {
  override name = 'CorruptSnapshotError';
  readonly file: string;
  constructor(file: string, reason: string) {
    super(
      `Raft snapshot ${file} is corrupted: ${reason}. Refusing to start; snapshot files are written ` +
        'atomically, so this is damage after the fact. Move the data directory aside and let the member ' +
        'catch up from the leader.',
    );
    this.file = file;
  }
}

const hex16 = (n: number) => n.toString(16).padStart(16, '0');
export const snapshotFileName = (s: Snapshot) =>
  `snap-${hex16(s.metadata.index)}-${hex16(s.metadata.term)}.snap`;

export function encodeSnapshotFile(s: Snapshot): Uint8Array {
  const body = new ByteWriter(64 + s.data.length);
  writeSnapshotMetadata(body, s.metadata);
  body.bytes32(s.data);
  const b = body.finish();
  const out = new ByteWriter(12 + b.length).raw(MAGIC).u32(crc32c(b)).raw(b);
  return out.finish();
}

export function decodeSnapshotFile(file: string, buf: Uint8Array): Snapshot {
  if (buf.length < 12 || !MAGIC.every((b, i) => buf[i] === b)) {
    throw new CorruptSnapshotError(file, 'missing snapshot header');
  }
  const body = buf.subarray(12);
  if (new DataView(buf.buffer, buf.byteOffset).getUint32(8, true) !== crc32c(body)) {
    throw new CorruptSnapshotError(file, 'checksum mismatch');
  }
  try {
    const r = new ByteReader(body);
    const metadata = readSnapshotMetadata(r);
    const data = r.bytes32('snapshot data', MAX_SNAPSHOT_BYTES);
    r.end('snapshot');
    return { metadata, data };
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptSnapshotError(file, e.message);
    throw e;
  }
}

export async function writeSnapshotFile(dir: string, s: Snapshot, observe?: FsyncObserver): Promise<void> {
  await writeFileAtomic(dir, snapshotFileName(s), encodeSnapshotFile(s), observe);
}

/** The newest snapshot in `dir`, refusing (not skipping) a damaged one. */
export async function loadNewestSnapshot(dir: string): Promise<Snapshot | undefined> {
  const names = (await readdir(dir)).filter((n) => SNAPSHOT_NAME.test(n)).sort();
  const newest = names[names.length - 1];
  if (!newest) return undefined;
  const path = join(dir, newest);
  const snap = decodeSnapshotFile(path, new Uint8Array(await readFile(path)));
  const [, idx, term] = SNAPSHOT_NAME.exec(newest)!;
  if (
    snap.metadata.index !== Number.parseInt(idx!, 16) ||
    snap.metadata.term !== Number.parseInt(term!, 16)
  ) {
    throw new CorruptSnapshotError(path, 'metadata does not match the file name');
  }
  return snap;
}

/** Removes snapshot files older than `keep` once `keep` is durable. */
export async function removeOlderSnapshots(
  dir: string,
  keep: Snapshot,
  observe?: FsyncObserver,
): Promise<void> {
  const keepName = snapshotFileName(keep);
  const old = (await readdir(dir)).filter((n) => SNAPSHOT_NAME.test(n) && n < keepName);
  for (const n of old) await rm(join(dir, n));
  if (old.length > 0) await fsyncDir(dir, observe);
}
