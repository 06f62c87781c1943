// The witness's durable state (SQLite): per namespace the last verified epoch and root, every
// countersignature, and a refusal that halts the namespace until a person looks at it.
import { DatabaseSync } from 'node:sqlite';

export type NamespaceState = {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  /** why the witness stopped following this namespace, if it did */
  readonly refusal: string | undefined;
  readonly refusedEpoch: number | undefined;
};

export type StoredCountersignature = {
  readonly namespace: string;
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  readonly timestamp: number;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
};

type Row = Record<string, unknown>;
const b = (v: unknown) => v as Uint8Array;

export class WitnessState {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, epoch INTEGER NOT NULL, root BLOB NOT NULL,
        refusal TEXT, refused_epoch INTEGER);
      CREATE TABLE IF NOT EXISTS countersignatures (namespace TEXT NOT NULL, epoch INTEGER NOT NULL, root BLOB NOT NULL,
        timestamp INTEGER NOT NULL, message BLOB NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (namespace, epoch));`);
  }

  /** The namespace's state, created at `genesisRoot` (epoch 0) the first time. */
  namespace(namespace: string, genesisRoot: Uint8Array): NamespaceState {
    this.db
      .prepare('INSERT OR IGNORE INTO namespaces (namespace, epoch, root) VALUES (?, 0, ?)')
      .run(namespace, genesisRoot);
    const r = this.db.prepare('SELECT * FROM namespaces WHERE namespace = ?').get(namespace) as Row;
    return {
      namespace,
      epoch: Number(r.epoch),
      rootHash: b(r.root),
      refusal: r.refusal === null ? undefined : String(r.refusal),
      refusedEpoch: r.refused_epoch === null ? undefined : Number(r.refused_epoch),
    };
  }

  /** Records a verified epoch and its countersignature in one transaction. */
  advance(sig: StoredCountersignature): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const res = this.db
        .prepare(
          'UPDATE namespaces SET epoch = ?, root = ? WHERE namespace = ? AND epoch = ? AND refusal IS NULL',
        )
        .run(sig.epoch, sig.rootHash, sig.namespace, sig.epoch - 1);
      if (Number(res.changes) !== 1)
        throw new Error(`witness state for ${sig.namespace} is not at epoch ${sig.epoch - 1}`);
      this.db
        .prepare(
          'INSERT INTO countersignatures (namespace, epoch, root, timestamp, message, signature) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(sig.namespace, sig.epoch, sig.rootHash, sig.timestamp, sig.message, sig.signature);
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  refuse(namespace: string, epoch: number, reason: string): void {
    this.db
      .prepare('UPDATE namespaces SET refusal = ?, refused_epoch = ? WHERE namespace = ? AND refusal IS NULL')
      .run(reason, epoch, namespace);
  }

  countersignature(namespace: string, epoch: number): StoredCountersignature | undefined {
    const r = this.db
      .prepare('SELECT * FROM countersignatures WHERE namespace = ? AND epoch = ?')
      .get(namespace, epoch) as Row | undefined;
    if (r === undefined) return undefined;
    return {
      namespace,
      epoch: Number(r.epoch),
      rootHash: b(r.root),
      timestamp: Number(r.timestamp),
      message: b(r.message),
      signature: b(r.signature),
    };
  }

  close(): void {
    this.db.close();
  }
}
