// PostgreSQL storage for directories that outgrow one node: the same model as the SQLite
// backend (one transaction per epoch; REPEATABLE READ snapshots for readers, so any number of
// reader replicas can share one database).
import { labelToBytes, type NodeLabel } from '@keyfleet/sdk/akd/label';
import { equalBytes } from '@noble/curves/utils.js';
import pg from 'pg';
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
CREATE TABLE IF NOT EXISTS nodes (key BYTEA PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS value_states (
  username BYTEA NOT NULL, version BIGINT NOT NULL, epoch BIGINT NOT NULL,
  label BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (username, version));
CREATE TABLE IF NOT EXISTS epochs (
  epoch BIGINT PRIMARY KEY, root BYTEA NOT NULL, previous_root BYTEA NOT NULL,
  timestamp BIGINT NOT NULL, head BYTEA NOT NULL, signature BYTEA NOT NULL,
  audit_blob BYTEA NOT NULL, updates BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
  seq BIGSERIAL PRIMARY KEY, request_id TEXT NOT NULL, username BYTEA NOT NULL,
  value BYTEA NOT NULL, received_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, digest BYTEA NOT NULL, seq BIGINT NOT NULL);
`;

/** Rows per multi-row statement. */
const CHUNK = 5000;

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const hexKey = (b: Uint8Array) => buf(b).toString('hex');

export type PostgresStorageOptions = {
  readonly connectionString: string;
  readonly maxConnections?: number;
  /** Test hook: called inside the epoch transaction after each step (throw to abort). */
  readonly onCommitStep?: (step: CommitStep) => void;
};

export class PostgresStorage implements DirectoryStorage {
  private readonly pool: pg.Pool;
  private readonly onCommitStep: ((step: CommitStep) => void) | undefined;

  private constructor(options: PostgresStorageOptions) {
    this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 8 });
    this.onCommitStep = options.onCommitStep;
  }

  /** Connects and creates the schema if it is missing. */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const s = new PostgresStorage(options);
    await s.pool.query(SCHEMA);
    return s;
  }

  private async transaction<T>(begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query(begin);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  read<T>(fn: (snapshot: DirectorySnapshot) => Promise<T>): Promise<T> {
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (c) => fn(snapshotOf(c)));
  }

  commitEpoch(commit: EpochCommit): Promise<void> {
    const { record } = commit;
    return this.transaction('BEGIN', async (c) => {
      // Serialises writers: a second publisher waits here, then fails the epoch check.
      await c.query('LOCK TABLE epochs IN EXCLUSIVE MODE');
      const latest = (await c.query('SELECT epoch, root FROM epochs ORDER BY epoch DESC LIMIT 1')).rows[0] as
        | Row
        | undefined;
      const expected = latest === undefined ? 1 : int(latest.epoch) + 1;
      if (record.epoch !== expected)
        throw new Error(`epoch ${record.epoch} is not the next epoch (${expected}); another writer?`);
      if (latest !== undefined && !equalBytes(bytes(latest.root), record.previousRootHash)) {
        throw new Error(`epoch ${record.epoch} does not extend the stored root of epoch ${expected - 1}`);
      }
      for (let i = 0; i < commit.nodes.length; i += CHUNK) {
        const part = commit.nodes.slice(i, i + CHUNK);
        await c.query(
          'INSERT INTO nodes (key, data) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data',
          [part.map((n) => buf(labelToBytes(n.label))), part.map((n) => buf(encodeNode(n)))],
        );
      }
      this.onCommitStep?.('nodes');
      for (let i = 0; i < commit.valueStates.length; i += CHUNK) {
        const part = commit.valueStates.slice(i, i + CHUNK);
        await c.query(
          'INSERT INTO value_states (username, version, epoch, label, value) SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[])',
          [
            part.map((v) => buf(v.username)),
            part.map((v) => v.version),
            part.map((v) => v.epoch),
            part.map((v) => buf(labelToBytes(v.label))),
            part.map((v) => buf(v.value)),
          ],
        );
      }
      this.onCommitStep?.('values');
      await c.query(
        'INSERT INTO epochs (epoch, root, previous_root, timestamp, head, signature, audit_blob, updates) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [
          record.epoch,
          buf(record.rootHash),
          buf(record.previousRootHash),
          record.timestamp,
          buf(record.head),
          buf(record.signature),
          buf(record.auditBlob),
          record.updates,
        ],
      );
      this.onCommitStep?.('epoch');
      if (commit.drained.length > 0)
        await c.query('DELETE FROM queue WHERE seq = ANY($1::bigint[])', [commit.drained]);
      this.onCommitStep?.('queue');
    });
  }

  async dropQueued(seqs: readonly number[]): Promise<void> {
    if (seqs.length > 0) await this.pool.query('DELETE FROM queue WHERE seq = ANY($1::bigint[])', [seqs]);
  }

  private async enqueueOne(
    c: pg.PoolClient,
    change: { requestId: string; username: Uint8Array; value: Uint8Array },
    maxDepth: number,
  ): Promise<EnqueueResult> {
    const digest = changeDigest(change.username, change.value);
    const seen = (await c.query('SELECT digest, seq FROM requests WHERE request_id = $1', [change.requestId]))
      .rows[0] as Row | undefined;
    if (seen !== undefined) {
      return equalBytes(bytes(seen.digest), digest)
        ? { status: 'duplicate', seq: int(seen.seq) }
        : { status: 'conflict' };
    }
    const depth = int((await c.query('SELECT count(*) AS n FROM queue')).rows[0].n);
    if (depth >= maxDepth) return { status: 'full' };
    const seq = int(
      (
        await c.query(
          'INSERT INTO queue (request_id, username, value, received_at) VALUES ($1, $2, $3, $4) RETURNING seq',
          [change.requestId, buf(change.username), buf(change.value), Date.now()],
        )
      ).rows[0].seq,
    );
    await c.query('INSERT INTO requests (request_id, digest, seq) VALUES ($1, $2, $3)', [
      change.requestId,
      buf(digest),
      seq,
    ]);
    return { status: 'queued', seq };
  }

  /** Runs enqueues; a concurrent insert of the same request id retries once and then dedups. */
  private async enqueueTx(
    changes: readonly { requestId: string; username: Uint8Array; value: Uint8Array }[],
    maxDepth: number,
  ): Promise<EnqueueResult[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.transaction('BEGIN', async (c) => {
          const out: EnqueueResult[] = [];
          for (const ch of changes) out.push(await this.enqueueOne(c, ch, maxDepth));
          return out;
        });
      } catch (e) {
        if ((e as { code?: string }).code !== '23505' || attempt > 0) throw e;
      }
    }
  }

  async enqueue(
    change: { requestId: string; username: Uint8Array; value: Uint8Array },
    maxDepth: number,
  ): Promise<EnqueueResult> {
    return (await this.enqueueTx([change], maxDepth))[0]!;
  }

  enqueueMany(
    changes: readonly { requestId: string; username: Uint8Array; value: Uint8Array }[],
    maxDepth: number,
  ): Promise<EnqueueResult[]> {
    return this.enqueueTx(changes, maxDepth);
  }

  async pending(limit: number): Promise<QueuedChange[]> {
    const rows = (await this.pool.query('SELECT * FROM queue ORDER BY seq LIMIT $1', [limit])).rows as Row[];
    return rows.map((r) => ({
      seq: int(r.seq),
      requestId: String(r.request_id),
      username: bytes(r.username),
      value: bytes(r.value),
      receivedAt: int(r.received_at),
    }));
  }

  async queueDepth(): Promise<number> {
    return int((await this.pool.query('SELECT count(*) AS n FROM queue')).rows[0].n);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

function snapshotOf(c: pg.PoolClient): DirectorySnapshot {
  return {
    getNodes: async (labels: readonly NodeLabel[]) => {
      if (labels.length === 0) return [];
      const keys = labels.map((l) => labelToBytes(l));
      const found = new Map<string, Uint8Array>();
      for (let i = 0; i < keys.length; i += CHUNK) {
        const rows = (
          await c.query('SELECT key, data FROM nodes WHERE key = ANY($1::bytea[])', [
            keys.slice(i, i + CHUNK).map(buf),
          ])
        ).rows as Row[];
        for (const r of rows) found.set(hexKey(bytes(r.key)), bytes(r.data));
      }
      return keys.map((k) => {
        const data = found.get(hexKey(k));
        return data === undefined ? undefined : decodeNode(k, data);
      });
    },
    latestEpoch: async () => {
      const r = (await c.query(`SELECT ${EPOCH_HEAD_COLUMNS} FROM epochs ORDER BY epoch DESC LIMIT 1`))
        .rows[0] as Row | undefined;
      return r === undefined ? undefined : epochHeadFromRow(r);
    },
    epoch: async (n: number) => {
      const r = (await c.query('SELECT * FROM epochs WHERE epoch = $1', [n])).rows[0] as Row | undefined;
      return r === undefined ? undefined : epochFromRow(r);
    },
    latestValueStates: async (usernames: readonly Uint8Array[]) => {
      const out = new Map<string, ValueState>();
      for (let i = 0; i < usernames.length; i += CHUNK) {
        const rows = (
          await c.query(
            'SELECT DISTINCT ON (username) * FROM value_states WHERE username = ANY($1::bytea[]) ORDER BY username, version DESC',
            [usernames.slice(i, i + CHUNK).map(buf)],
          )
        ).rows as Row[];
        for (const r of rows) {
          const v = valueStateFromRow(r);
          out.set(hexKey(v.username), v);
        }
      }
      return out;
    },
    valueStates: async (username: Uint8Array, limit: number) =>
      (
        (
          await c.query('SELECT * FROM value_states WHERE username = $1 ORDER BY version DESC LIMIT $2', [
            buf(username),
            limit,
          ])
        ).rows as Row[]
      ).map(valueStateFromRow),
  };
}
