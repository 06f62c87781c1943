// The embedded default storage: SQLite through Node's built-in `node:sqlite` (WAL, full sync).
// One transaction per epoch makes a publish all-or-nothing across a crash; readers (also in
// other processes, read-only) see one committed epoch per snapshot.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import { labelToBytes } from '@keyfleet/sdk/akd/label';
import { equalBytes } from '@noble/curves/utils.js';
import { Mutex } from './mutex.ts';
import { decodeNode, encodeNode } from './node-codec.ts';
import {
  bytes,
  changeDigest,
  EPOCH_HEAD_COLUMNS,
  epochFromRow,
  epochHeadFromRow,
  int,
  type Row,
  valueStateFromRow,
} from './records.ts';
import type {
  CommitStep,
  DirectorySnapshot,
  DirectoryStorage,
  EnqueueResult,
  EpochCommit,
  QueuedChange,
  ValueState,
} from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (key BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS value_states (
  username BLOB NOT NULL, version INTEGER NOT NULL, epoch INTEGER NOT NULL,
  label BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (username, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
  epoch INTEGER PRIMARY KEY, root BLOB NOT NULL, previous_root BLOB NOT NULL,
  timestamp INTEGER NOT NULL, head BLOB NOT NULL, signature BLOB NOT NULL,
  audit_blob BLOB NOT NULL, updates INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, username BLOB NOT NULL,
  value BLOB NOT NULL, received_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, digest BLOB NOT NULL, seq INTEGER NOT NULL);
`;

export type SqliteStorageOptions = {
  readOnly?: boolean;
  /** Test hook: called inside the epoch transaction after each step (throw to abort). */
  onCommitStep?: (step: CommitStep) => void;
};

export class SqliteStorage implements DirectoryStorage {
  private readonly db: DatabaseSync;
  private readonly mutex = new Mutex();
  private readonly onCommitStep: ((step: CommitStep) => void) | undefined;
  private readonly stmt: Record<string, StatementSync>;

  constructor(path: string, options: SqliteStorageOptions = {}) {
    this.db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
    this.db.exec('PRAGMA busy_timeout = 10000');
    // An epoch reads and rewrites the paths of its leaves, spread over the whole tree: keep
    // the upper levels in the page cache (128 MiB at most, not SQLite's default 2 MiB).
    this.db.exec('PRAGMA cache_size = -131072');
    if (!options.readOnly) {
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = FULL');
      this.db.exec(SCHEMA);
    }
    this.onCommitStep = options.onCommitStep;
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      node: p('SELECT data FROM nodes WHERE key = ?'),
      latestEpoch: p(`SELECT ${EPOCH_HEAD_COLUMNS} FROM epochs ORDER BY epoch DESC LIMIT 1`),
      epoch: p('SELECT * FROM epochs WHERE epoch = ?'),
      latestState: p('SELECT * FROM value_states WHERE username = ? ORDER BY version DESC LIMIT 1'),
      states: p('SELECT * FROM value_states WHERE username = ? ORDER BY version DESC LIMIT ?'),
      pending: p('SELECT * FROM queue ORDER BY seq LIMIT ?'),
      depth: p('SELECT count(*) AS n FROM queue'),
      ...(options.readOnly
        ? {}
        : {
            putNode: p('INSERT OR REPLACE INTO nodes (key, data) VALUES (?, ?)'),
            putState: p(
              'INSERT INTO value_states (username, version, epoch, label, value) VALUES (?, ?, ?, ?, ?)',
            ),
            putEpoch: p(
              'INSERT INTO epochs (epoch, root, previous_root, timestamp, head, signature, audit_blob, updates) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            ),
            dequeue: p('DELETE FROM queue WHERE seq = ?'),
            request: p('SELECT digest, seq FROM requests WHERE request_id = ?'),
            enqueue: p('INSERT INTO queue (request_id, username, value, received_at) VALUES (?, ?, ?, ?)'),
            putRequest: p('INSERT INTO requests (request_id, digest, seq) VALUES (?, ?, ?)'),
          }),
    };
  }

  private s(name: string): StatementSync {
    const st = this.stmt[name];
    if (st === undefined) throw new Error(`storage opened read-only: ${name} is not available`);
    return st;
  }

  private inTransaction<T>(mode: 'DEFERRED' | 'IMMEDIATE', fn: () => T): T {
    this.db.exec(`BEGIN ${mode}`);
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private snapshot(): DirectorySnapshot {
    return {
      getNodes: async (labels: readonly NodeLabel[]) =>
        labels.map((l) => {
          const key = labelToBytes(l);
          const row = this.s('node').get(key) as Row | undefined;
          return row === undefined ? undefined : decodeNode(key, bytes(row.data));
        }),
      latestEpoch: async () => {
        const row = this.s('latestEpoch').get() as Row | undefined;
        return row === undefined ? undefined : epochHeadFromRow(row);
      },
      epoch: async (n: number) => {
        const row = this.s('epoch').get(n) as Row | undefined;
        return row === undefined ? undefined : epochFromRow(row);
      },
      latestValueStates: async (usernames: readonly Uint8Array[]) => {
        const out = new Map<string, ValueState>();
        for (const u of usernames) {
          const row = this.s('latestState').get(u) as Row | undefined;
          if (row !== undefined) out.set(Buffer.from(u).toString('hex'), valueStateFromRow(row));
        }
        return out;
      },
      valueStates: async (username: Uint8Array, limit: number) =>
        (this.s('states').all(username, limit) as Row[]).map(valueStateFromRow),
    };
  }

  read<T>(fn: (snapshot: DirectorySnapshot) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.db.exec('BEGIN DEFERRED');
      try {
        return await fn(this.snapshot());
      } finally {
        if (this.db.isTransaction) this.db.exec('COMMIT');
      }
    });
  }

  commitEpoch(commit: EpochCommit): Promise<void> {
    return this.mutex.run(async () => {
      const { record } = commit;
      this.inTransaction('IMMEDIATE', () => {
        const latest = this.s('latestEpoch').get() as Row | undefined;
        const expectedEpoch = latest === undefined ? 1 : int(latest.epoch) + 1;
        if (record.epoch !== expectedEpoch) {
          throw new Error(`epoch ${record.epoch} is not the next epoch (${expectedEpoch}); another writer?`);
        }
        if (latest !== undefined && !equalBytes(bytes(latest.root), record.previousRootHash)) {
          throw new Error(
            `epoch ${record.epoch} does not extend the stored root of epoch ${expectedEpoch - 1}`,
          );
        }
        for (const node of commit.nodes) this.s('putNode').run(labelToBytes(node.label), encodeNode(node));
        this.onCommitStep?.('nodes');
        for (const v of commit.valueStates) {
          this.s('putState').run(v.username, v.version, v.epoch, labelToBytes(v.label), v.value);
        }
        this.onCommitStep?.('values');
        this.s('putEpoch').run(
          record.epoch,
          record.rootHash,
          record.previousRootHash,
          record.timestamp,
          record.head,
          record.signature,
          record.auditBlob,
          record.updates,
        );
        this.onCommitStep?.('epoch');
        for (const seq of commit.drained) this.s('dequeue').run(seq);
        this.onCommitStep?.('queue');
      });
    });
  }

  dropQueued(seqs: readonly number[]): Promise<void> {
    return this.mutex.run(async () => {
      this.inTransaction('IMMEDIATE', () => {
        for (const seq of seqs) this.s('dequeue').run(seq);
      });
    });
  }

  private enqueueOne(
    change: { requestId: string; username: Uint8Array; value: Uint8Array },
    maxDepth: number,
  ): EnqueueResult {
    const digest = changeDigest(change.username, change.value);
    const seen = this.s('request').get(change.requestId) as Row | undefined;
    if (seen !== undefined) {
      return equalBytes(bytes(seen.digest), digest)
        ? { status: 'duplicate', seq: int(seen.seq) }
        : { status: 'conflict' };
    }
    const depth = int((this.s('depth').get() as Row).n);
    if (depth >= maxDepth) return { status: 'full' };
    const res = this.s('enqueue').run(change.requestId, change.username, change.value, Date.now());
    const seq = Number(res.lastInsertRowid);
    this.s('putRequest').run(change.requestId, digest, seq);
    return { status: 'queued', seq };
  }

  enqueue(
    change: { requestId: string; username: Uint8Array; value: Uint8Array },
    maxDepth: number,
  ): Promise<EnqueueResult> {
    return this.mutex.run(async () =>
      this.inTransaction('IMMEDIATE', () => this.enqueueOne(change, maxDepth)),
    );
  }

  enqueueMany(
    changes: readonly { requestId: string; username: Uint8Array; value: Uint8Array }[],
    maxDepth: number,
  ): Promise<EnqueueResult[]> {
    return this.mutex.run(async () =>
      this.inTransaction('IMMEDIATE', () => changes.map((c) => this.enqueueOne(c, maxDepth))),
    );
  }

  pending(limit: number): Promise<QueuedChange[]> {
    return this.mutex.run(async () =>
      (this.s('pending').all(limit) as Row[]).map((r) => ({
        seq: int(r.seq),
        requestId: String(r.request_id),
        username: bytes(r.username),
        value: bytes(r.value),
        receivedAt: int(r.received_at),
      })),
    );
  }

  queueDepth(): Promise<number> {
    return this.mutex.run(async () => int((this.s('depth').get() as Row).n));
  }

  close(): void {
    this.db.close();
  }
}
