// The witness's durable state (SQLite): per namespace the last verified epoch and root, every
// countersignature, and a refusal that halts the namespace until a person looks at it; and per
// fleet the last fleet-deployment attestation it countersigned (serial and envelope digest), so it
// never countersigns a lower serial or a second envelope for one serial (FORMAT.md, step 3).
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

/** What recordAttestation decided: go ahead and countersign, or refuse and why. */
export type AttestationRecord =
  | { readonly kind: 'new' | 'repeat' }
  | { readonly kind: 'rollback' | 'fork'; readonly lastSerial: number };

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
        timestamp INTEGER NOT NULL, message BLOB NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (namespace, epoch));
      CREATE TABLE IF NOT EXISTS attestations (fleet TEXT PRIMARY KEY, serial INTEGER NOT NULL, digest BLOB NOT NULL);`);
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

  /**
   * Records that the attestation `serial` with envelope digest `digest` of `fleet` is about to be
   * countersigned, durably and atomically with the check: a higher serial replaces the last one,
   * the same serial and digest is a retry (countersigned again), a lower serial or another digest
   * for the last serial is refused and changes nothing.
   */
  recordAttestation(fleet: string, serial: number, digest: Uint8Array): AttestationRecord {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = this.db.prepare('SELECT serial, digest FROM attestations WHERE fleet = ?').get(fleet) as
        | Row
        | undefined;
      let result: AttestationRecord;
      if (r === undefined || Number(r.serial) < serial) {
        this.db
          .prepare('INSERT OR REPLACE INTO attestations (fleet, serial, digest) VALUES (?, ?, ?)')
          .run(fleet, serial, digest);
        result = { kind: 'new' };
      } else if (Number(r.serial) > serial) {
        result = { kind: 'rollback', lastSerial: Number(r.serial) };
      } else {
        // Digests are public; no constant-time comparison needed.
        result = Buffer.from(b(r.digest)).equals(digest)
          ? { kind: 'repeat' }
          : { kind: 'fork', lastSerial: Number(r.serial) };
      }
      this.db.exec('COMMIT');
      return result;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  close(): void {
    this.db.close();
  }
}
