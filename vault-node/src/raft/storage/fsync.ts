// Durability primitives. Every fsync goes through `timed` so the caller can observe its latency.

import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Receives the duration of each fsync in seconds (the node feeds its fsync histogram). */
export type FsyncObserver = (seconds: number) => void;

export async function timedSync(
  fh: { datasync(): Promise<void>; sync(): Promise<void> },
  observe: FsyncObserver | undefined,
  full = false,
): Promise<void> {
  const start = performance.now();
  await (full ? fh.sync() : fh.datasync());
  observe?.((performance.now() - start) / 1000);
}

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string, observe?: FsyncObserver): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await timedSync(fh, observe, true);
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `dir/name` with `data` so that after a crash the file holds either the old or the new
 * contents, never a mix: write a temporary file, fsync it, rename it over the target, fsync the
 * directory (without the last step the rename itself may be lost).
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  data: Uint8Array,
  observe?: FsyncObserver,
): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await timedSync(fh, observe, true);
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, join(dir, name));
  await fsyncDir(dir, observe);
}
