import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry, Snapshot } from '../types.ts';
import { CorruptHardStateError } from './hard-state-file.ts';
import { CorruptLogError } from './log.ts';
import { CorruptSnapshotError, writeSnapshotFile } from './snapshot-file.ts';
import { RaftStorage } from './storage.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kf-raft-storage-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function entries(from: number, to: number, term: number, size = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: 'normal', data: new Uint8Array(size).fill((i * 7 + term) & 0xff) });
  }
  return out;
}

async function reopen(dir: string) {
  const { storage, state } = await RaftStorage.open(dir);
  await storage.close();
  return state;
}

async function onlySegment(dir: string): Promise<string> {
  const segs = (await readdir(dir)).filter((n) => n.startsWith('wal-'));
  expect(segs).toHaveLength(1);
  return join(dir, segs[0]!);
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset] = buf[offset]! ^ 0x40;
  await writeFile(path, buf);
}

describe('RaftStorage', () => {
  it('reloads exactly what was persisted: entries, conflicting-tail overwrite, hard state, commit', async () => {
    const dir = await tempDir();
    const { storage, state } = await RaftStorage.open(dir);
    expect(state).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, entries: [], torn: [] });
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 10, 1) });
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 4 }, entries: [] });
    // A new leader overwrites the uncommitted suffix 6..10 with its own 6..8.
    await storage.persist({ hardState: { term: 2, vote: 'n3', commit: 5 }, entries: entries(6, 8, 2) });
    await storage.persist({ hardState: { term: 2, vote: 'n3', commit: 7 }, entries: entries(9, 9, 2) });
    await storage.close();

    const back = await reopen(dir);
    expect(back.hardState).toEqual({ term: 2, vote: 'n3', commit: 7 });
    expect(back.entries).toEqual([...entries(1, 5, 1), ...entries(6, 9, 2)]);
    expect(back.torn).toEqual([]);
    // And a second reopen (after recovery wrote nothing) is identical.
    expect(await reopen(dir)).toEqual(back);
  });

  it('writes nothing for a Ready that only advances the commit index, and records it with the next entries', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 3, 1) });
    const seg = await onlySegment(dir);
    const size = (await stat(seg)).size;
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 2 }, entries: [] });
    expect((await stat(seg)).size).toBe(size);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 3 }, entries: [] });
    await storage.persist({ entries: entries(4, 4, 1) });
    await storage.close();
    expect((await reopen(dir)).hardState).toEqual({ term: 1, vote: 'n1', commit: 3 });
  });

  it('cuts a torn last record at every byte offset, reports it, and keeps everything before it', async () => {
    const base = await tempDir();
    const { storage } = await RaftStorage.open(base);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 3, 1) });
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 3 }, entries: entries(4, 5, 1) });
    const seg = await onlySegment(base);
    const goodEnd = (await stat(seg)).size;
    await storage.persist({ entries: entries(6, 7, 1, 24) });
    await storage.close();
    const fullEnd = (await stat(seg)).size;
    expect(fullEnd - goodEnd).toBeGreaterThan(100);

    for (let cut = goodEnd; cut < fullEnd; cut++) {
      const dir = await tempDir();
      await cp(base, dir, { recursive: true });
      const mine = join(dir, seg.slice(base.length + 1));
      await truncate(mine, cut);
      const state = await reopen(dir);
      expect(state.entries, `cut at ${cut}`).toEqual(entries(1, 5, 1));
      expect(state.hardState).toEqual({ term: 1, vote: 'n1', commit: 3 });
      if (cut === goodEnd) {
        expect(state.torn).toEqual([]);
      } else {
        expect(state.torn).toEqual([
          expect.objectContaining({ file: mine, offset: goodEnd, droppedBytes: cut - goodEnd }),
        ]);
      }
      // The file was cut back to the last good record, so appending afterwards is clean.
      expect((await stat(mine)).size).toBe(goodEnd);
      const { storage: again } = await RaftStorage.open(dir);
      await again.persist({ entries: entries(6, 6, 2) });
      await again.close();
      expect((await reopen(dir)).entries).toEqual([...entries(1, 5, 1), ...entries(6, 6, 2)]);
      await rm(dir, { recursive: true });
      dirs.pop();
    }
  });

  it('treats a zero-filled end (unwritten sectors) as torn, but a flipped bit in the last record as corruption', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entries: entries(1, 2, 1) });
    const seg = await onlySegment(dir);
    const goodEnd = (await stat(seg)).size;
    await storage.persist({ entries: entries(3, 3, 1, 3000) });
    await storage.close();
    const fullEnd = (await stat(seg)).size;

    // The last record's length reached the disk but its sectors from 1024 bytes in did not.
    const buf = await readFile(seg);
    const sector = Math.ceil((goodEnd + 1024) / 512) * 512;
    buf.fill(0, sector);
    await writeFile(seg, buf);
    const zeroed = await reopen(dir);
    expect(zeroed.entries).toEqual(entries(1, 2, 1));
    expect(zeroed.torn[0]).toMatchObject({ offset: goodEnd, reason: 'record payload fails its checksum' });

    // Space the file system allocated past the last record, never written: torn, not corruption.
    const { storage: s2 } = await RaftStorage.open(dir);
    await s2.persist({ entries: entries(3, 3, 1) });
    await s2.close();
    const end = (await stat(seg)).size;
    await truncate(seg, end + 4096);
    const extended = await reopen(dir);
    expect(extended.entries).toEqual(entries(1, 3, 1));
    expect(extended.torn[0]).toMatchObject({ offset: end, droppedBytes: 4096 });

    // A complete last record with one flipped bit is acknowledged data gone bad: refuse.
    await flipByte(seg, end - 5);
    await expect(reopen(dir)).rejects.toThrow(CorruptLogError);
    expect(fullEnd).toBeGreaterThan(goodEnd);
  });

  it('refuses to start on a corrupted record in the middle, naming the file and offset', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entries: entries(1, 3, 1) });
    const seg = await onlySegment(dir);
    const second = (await stat(seg)).size;
    await storage.persist({ entries: entries(4, 6, 1) });
    await storage.persist({ entries: entries(7, 9, 1) });
    await storage.close();

    for (const [what, at] of [
      ['payload byte', second + 20],
      ['length field', second + 1],
      ['length checksum', second + 5],
      ['payload checksum', second + 9],
    ] as const) {
      const copy = await tempDir();
      await cp(dir, copy, { recursive: true });
      const mine = join(copy, seg.slice(dir.length + 1));
      await flipByte(mine, at);
      const err = await reopen(copy).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(CorruptLogError);
      expect((err as CorruptLogError).file).toBe(mine);
      expect((err as CorruptLogError).offset).toBe(second);
      expect((err as Error).message).toMatch(new RegExp(`${mine}.*offset ${second}`));
    }
  });

  it('refuses damage at the end of a segment that is not the last one', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 20; i += 2) await storage.persist({ entries: entries(i, i + 1, 1, 30) });
    await storage.close();
    const segs = (await readdir(dir)).filter((n) => n.startsWith('wal-')).sort();
    expect(segs.length).toBeGreaterThan(3);
    expect((await reopen(dir)).entries).toEqual(entries(1, 20, 1, 30));
    const first = join(dir, segs[0]!);
    await truncate(first, (await stat(first)).size - 3);
    await expect(reopen(dir)).rejects.toThrow(CorruptLogError);
  });

  it('survives a crash between the steps of a write', async () => {
    // 1. Crash while creating a new segment: its header never completed.
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: 3, vote: 'n2', commit: 0 }, entries: entries(1, 4, 3) });
    await storage.close();
    await writeFile(join(dir, 'wal-0000000000000002.log'), Buffer.from('KFRW'));
    // 2. Crash after writing the hard state's temporary file, before the rename.
    await writeFile(join(dir, 'hardstate.tmp'), Buffer.from('half written'));
    const back = await reopen(dir);
    expect(back.entries).toEqual(entries(1, 4, 3));
    expect(back.hardState).toEqual({ term: 3, vote: 'n2', commit: 0 });
    expect(back.torn).toEqual([
      expect.objectContaining({ offset: 0, reason: 'segment header never completed' }),
    ]);
    expect((await readdir(dir)).sort()).toEqual(['hardstate', 'wal-0000000000000001.log']);
  });

  it('installs a snapshot from the leader and survives losing the reset record after it', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 2 }, entries: entries(1, 5, 1) });
    await storage.close();
    const crashDir = await tempDir();
    await cp(dir, crashDir, { recursive: true });

    const snapshot: Snapshot = {
      metadata: { index: 20, term: 4, membership: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } },
      data: new Uint8Array([1, 2, 3]),
    };
    const { storage: s2 } = await RaftStorage.open(dir);
    await s2.persist({ hardState: { term: 4, vote: null, commit: 20 }, entries: [], snapshot });
    await s2.persist({ hardState: { term: 4, vote: null, commit: 21 }, entries: entries(21, 22, 4) });
    await s2.close();
    const back = await reopen(dir);
    expect(back.snapshot).toEqual(snapshot);
    expect(back.entries).toEqual(entries(21, 22, 4));
    expect(back.hardState).toEqual({ term: 4, vote: null, commit: 21 });

    // Crash right after the snapshot file's rename, before the log's reset record: the stale
    // entries 1..5 must not be mistaken for the history after the snapshot.
    await writeSnapshotFile(crashDir, snapshot);
    const crashed = await reopen(crashDir);
    expect(crashed.snapshot).toEqual(snapshot);
    expect(crashed.entries).toEqual([]);
    expect(crashed.hardState).toEqual({ term: 1, vote: 'n1', commit: 20 });
  });

  it('compacts the log after a local snapshot and reloads from snapshot plus the rest', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir, { segmentBytes: 300 });
    for (let i = 1; i <= 40; i += 4) await storage.persist({ entries: entries(i, i + 3, 2, 20) });
    await storage.persist({ hardState: { term: 2, vote: 'n5', commit: 40 }, entries: [] });
    const before = storage.segmentCount;
    const snapshot: Snapshot = {
      metadata: { index: 30, term: 2, membership: { voters: ['n1', 'n5'], learners: [] } },
      data: new TextEncoder().encode('{"k":1}'),
    };
    await storage.saveSnapshot(snapshot);
    expect(storage.segmentCount).toBeLessThan(before);
    await storage.close();
    const back = await reopen(dir);
    expect(back.snapshot).toEqual(snapshot);
    expect(back.entries).toEqual(entries(31, 40, 2, 20));
    expect(back.hardState.commit).toBe(40);
  });

  it('refuses a damaged snapshot or hard state file', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 2, 1) });
    await storage.saveSnapshot({
      metadata: { index: 2, term: 1, membership: { voters: ['n1'], learners: [] } },
      data: new Uint8Array(10),
    });
    await storage.close();
    const snap = (await readdir(dir)).find((n) => n.startsWith('snap-'))!;
    await flipByte(join(dir, snap), 30);
    await expect(reopen(dir)).rejects.toThrow(CorruptSnapshotError);
    await flipByte(join(dir, snap), 30);
    await flipByte(join(dir, 'hardstate'), 14);
    await expect(reopen(dir)).rejects.toThrow(CorruptHardStateError);
  });

  it('refuses a commit index beyond the durable log (acknowledged entries missing)', async () => {
    const dir = await tempDir();
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 3, 1) });
    await storage.persist({ hardState: { term: 2, vote: 'n2', commit: 3 }, entries: [] });
    await storage.close();
    const seg = await onlySegment(dir);
    await truncate(seg, 16);
    await expect(reopen(dir)).rejects.toThrow(/commit index 3 is beyond the last durable entry 0/);
  });
});
