// The hard state file `hardstate`: term, vote and commit, replaced atomically (temp, fsync, rename,
// fsync dir). Layout: magic "KFRHS001" | u32 CRC-32C of the body | body = u64 term | u8 has vote
// | [string vote] | u64 commit.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import type { HardState } from '../types.ts';
import { readMemberId } from './bytes.ts';
import { crc32c } from './crc32c.ts';
import { type FsyncObserver, writeFileAtomic } from './fsync.ts';

const MAGIC = new TextEncoder().encode('KFRHS001');
export const HARD_STATE_FILE = 'hardstate';
export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

export class CorruptHardStateError extends Error {
  override name = 'CorruptHardStateError';
  constructor(file: string, reason: string) {
    super(
      `Raft hard state ${file} is corrupted: ${reason}. Refusing to start: without it this member could ` +
        'vote twice in one term. It is replaced atomically, so this is damage after the fact.',
    );
  }
}

export function encodeHardState(hs: HardState): Uint8Array {
  const body = new ByteWriter(64).u64(hs.term).u8(hs.vote === null ? 0 : 1);
  if (hs.vote !== null) body.string16(hs.vote);
  const b = body.u64(hs.commit).finish();
  return new ByteWriter(12 + b.length).raw(MAGIC).u32(crc32c(b)).raw(b).finish();
}

export function decodeHardState(file: string, buf: Uint8Array): HardState {
  if (buf.length < 12 || !MAGIC.every((b, i) => buf[i] === b))
    throw new CorruptHardStateError(file, 'bad header');
  const body = buf.subarray(12);
  if (new DataView(buf.buffer, buf.byteOffset).getUint32(8, true) !== crc32c(body)) {
    throw new CorruptHardStateError(file, 'checksum mismatch');
  }
  try {
    const r = new ByteReader(body);
    const term = r.u64('term');
    const hasVote = r.u8('vote flag');
    if (hasVote > 1) throw new DecodeError('bad vote flag');
    const vote = hasVote ? readMemberId(r, 'vote') : null;
    const commit = r.u64('commit');
    r.end('hard state');
    return { term, vote, commit };
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptHardStateError(file, e.message);
    throw e;
  }
}

export async function loadHardState(dir: string): Promise<HardState> {
  const path = join(dir, HARD_STATE_FILE);
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(await readFile(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_HARD_STATE;
    throw e;
  }
  return decodeHardState(path, buf);
}

export function saveHardState(dir: string, hs: HardState, observe?: FsyncObserver): Promise<void> {
  return writeFileAtomic(dir, HARD_STATE_FILE, encodeHardState(hs), observe);
}
