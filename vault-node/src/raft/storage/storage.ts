// RaftStorage: what a member keeps on disk, and the one place that decides the order of writes.
//
//   <dir>/wal-*.log      entries, commit indices, snapshot resets (log.ts)
//   <dir>/hardstate      term, vote, commit (hard-state-file.ts), replaced atomically
//   <dir>/snap-*.snap    the newest snapshot (snapshot-file.ts), written atomically
//
// Term and vote go to the hard state file whenever they change (rare: elections), before the
// Ready's messages are sent. The commit index rides in the log write that carries a Ready's
// entries; a Ready that only advances the commit index writes nothing (commit need not be durable:
// a restarted member relearns it from the leader), so the common case costs one fdatasync per
// Ready. On open, commit = max(file, log).

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../types.ts';
import type { FsyncObserver } from './fsync.ts';
import { EMPTY_HARD_STATE, loadHardState, saveHardState } from './hard-state-file.ts';
import {
  CorruptLogError,
  commitRecord,
  entriesRecord,
  resetRecord,
  SegmentedLog,
  type TornTail,
} from './log.ts';
import { loadNewestSnapshot, removeOlderSnapshots, writeSnapshotFile } from './snapshot-file.ts';

export interface StorageOptions {
  readonly segmentBytes?: number;
  readonly observeFsync?: FsyncObserver;
  /** Receives the duration of each durable log append (write + fdatasync) in seconds. */
  readonly observeAppend?: (seconds: number) => void;
}

export interface RecoveredState {
  readonly hardState: HardState;
  /** Entries after the snapshot (if any), in index order. */
  readonly entries: Entry[];
  readonly snapshot?: Snapshot;
  /** Torn writes cut off the end of the log while opening it: never acknowledged, but reported. */
  readonly torn: TornTail[];
}

export interface PersistRequest {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
}

export class RaftStorage {
  private readonly dir: string;
  private readonly log: SegmentedLog;
  private readonly options: StorageOptions;
  /** As durable on disk (file and log together). */
  private hardState: HardState;
  /** The newest commit index the core reported, durable or not. */
  private latestCommit: number;

  private constructor(dir: string, log: SegmentedLog, hardState: HardState, options: StorageOptions) {
    this.dir = dir;
    this.log = log;
    this.hardState = hardState;
    this.latestCommit = hardState.commit;
    this.options = options;
  }

  static async open(
    dir: string,
    options: StorageOptions = {},
  ): Promise<{ storage: RaftStorage; state: RecoveredState }> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Leftover temporaries are atomic writes that never reached their rename: never visible state.
    for (const n of await readdir(dir)) if (n.endsWith('.tmp')) await rm(join(dir, n));
    const snapshot = await loadNewestSnapshot(dir);
    const fileHs = await loadHardState(dir);
    const { log, replay } = await SegmentedLog.open(dir, options);
    const walFile = join(dir, 'wal-*.log');

    let entries = replay.entries;
    if (snapshot) {
      const { index, term } = snapshot.metadata;
      const at = entries.find((e) => e.index === index);
      if (at && at.term !== term) {
        // The log holds a different history at the snapshot's index: the snapshot was installed from
        // a leader and the reset record after it was lost in a torn write. The snapshot wins.
        entries = [];
      } else {
        entries = entries.filter((e) => e.index > index);
      }
      const first = entries[0];
      if (first && first.index > index + 1) {
        throw new CorruptLogError(
          walFile,
          0,
          `log starts at ${first.index} but the snapshot ends at ${index}`,
        );
      }
    } else if (entries[0] && entries[0].index !== 1) {
      throw new CorruptLogError(walFile, 0, `log starts at ${entries[0].index} and there is no snapshot`);
    }
    const lastIndex = entries[entries.length - 1]?.index ?? snapshot?.metadata.index ?? 0;
    const commit = Math.max(fileHs.commit, replay.commit, snapshot?.metadata.index ?? 0);
    if (commit > lastIndex) {
      throw new CorruptLogError(
        walFile,
        0,
        `commit index ${commit} is beyond the last durable entry ${lastIndex}: acknowledged entries are missing`,
      );
    }
    const hardState: HardState = { ...fileHs, commit };
    const storage = new RaftStorage(dir, log, { ...fileHs, commit }, options);
    const state: RecoveredState = { hardState, entries, torn: replay.torn };
    return { storage, state: snapshot ? { ...state, snapshot } : state };
  }

  /**
   * Makes a Ready's hard state, entries and snapshot durable. Resolves only after fsync: the
   * caller may then send the Ready's messages.
   */
  async persist(req: PersistRequest): Promise<void> {
    const records: Uint8Array[] = [];
    let maxIndex = 0;
    if (req.snapshot) {
      await writeSnapshotFile(this.dir, req.snapshot, this.options.observeFsync);
      records.push(resetRecord(req.snapshot.metadata.index, req.snapshot.metadata.term));
    }
    if (req.entries.length > 0) {
      records.push(entriesRecord(req.entries));
      maxIndex = req.entries[req.entries.length - 1]!.index;
    }
    const hs = req.hardState;
    const voteChanged =
      hs !== undefined && (hs.term !== this.hardState.term || hs.vote !== this.hardState.vote);
    if (hs) this.latestCommit = Math.max(this.latestCommit, hs.commit);
    // The commit index need not be durable for safety (a restarted member relearns it from the
    // leader), so a Ready that only advances it costs no fsync: it rides with the next entries.
    if (!voteChanged && records.length > 0 && this.latestCommit > this.hardState.commit) {
      records.push(commitRecord(this.latestCommit));
      this.hardState = { ...this.hardState, commit: this.latestCommit };
    }
    if (records.length > 0) {
      const start = performance.now();
      await this.log.append(records, maxIndex);
      this.options.observeAppend?.((performance.now() - start) / 1000);
    }
    if (hs && voteChanged) {
      await saveHardState(this.dir, hs, this.options.observeFsync);
      this.hardState = hs;
    }
    if (req.snapshot) await this.afterSnapshot(req.snapshot);
  }

  /** Stores a snapshot the state machine took locally, then drops the log segments it covers. */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await writeSnapshotFile(this.dir, snapshot, this.options.observeFsync);
    await this.afterSnapshot(snapshot);
  }

  private async afterSnapshot(snapshot: Snapshot): Promise<void> {
    await removeOlderSnapshots(this.dir, snapshot, this.options.observeFsync);
    await this.log.compact(snapshot.metadata.index);
  }

  /** Term and vote as they are on disk now. */
  get durableTermAndVote(): Pick<HardState, 'term' | 'vote'> {
    return this.hardState;
  }

  get segmentCount(): number {
    return this.log.segmentCount;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

export { CorruptLogError, EMPTY_HARD_STATE };
