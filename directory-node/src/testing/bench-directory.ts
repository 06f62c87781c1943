// A publisher on a SQLite directory in a temporary folder, with VRF label workers, for the
// benchmarks (test/bench/directory.ts, directory-1m.ts, akd.ts): publish epochs of numbered
// users and time them (wall, CPU, and the share spent waiting for VRF labels).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { signingKeys, type VrfKeys, vrfKeys } from '../keys.ts';
import { FilesystemAuditStorage } from '../publisher/audit-storage.ts';
import { type LabelDeriver, WorkerLabelDeriver } from '../publisher/labels.ts';
import { Publisher } from '../publisher/publisher.ts';
import { FileWriterLock } from '../publisher/writer-lock.ts';
import { SqliteStorage } from '../storage/sqlite.ts';
import { whatsappV1Hasher } from '../tree/hasher.ts';
import { type Elapsed, startClock } from './cpu-clock.ts';

const enc = new TextEncoder();

/** The username of bench user `i` (the akd tool's bench-publish uses the same names). */
export const benchUsername = (i: number): Uint8Array => enc.encode(`user-${i}@example.com`);

export type EpochTimes = Elapsed & { readonly updates: number; readonly labelWallMs: number };

export class BenchDirectory {
  readonly storage: SqliteStorage;
  readonly publisher: Publisher;
  readonly vrf: VrfKeys;
  private readonly dir: string;
  private readonly workers: WorkerLabelDeriver;
  private labelWallMs = 0;

  constructor(options: { readonly threads: number; readonly maxBatchSize: number; readonly name: string }) {
    this.dir = mkdtempSync(join(tmpdir(), `kf-bench-${options.name}-`));
    this.vrf = vrfKeys(ed25519.utils.randomSecretKey());
    this.storage = new SqliteStorage(join(this.dir, 'directory.db'));
    this.workers = new WorkerLabelDeriver(this.vrf.secret, this.vrf.expanded, options.threads);
    const labels: LabelDeriver = {
      derive: async (requests) => {
        const t0 = performance.now();
        const out = await this.workers.derive(requests);
        this.labelWallMs += performance.now() - t0;
        return out;
      },
      close: () => this.workers.close(),
    };
    this.publisher = new Publisher(
      this.storage,
      {
        namespace: options.name,
        hasher: whatsappV1Hasher,
        vrf: this.vrf,
        signing: signingKeys(ed25519.utils.randomSecretKey()),
        labels,
        now: Date.now,
      },
      new FilesystemAuditStorage(join(this.dir, 'audit')),
      new FileWriterLock(join(this.dir, 'lock')),
      { maxBatchSize: options.maxBatchSize, epochIntervalMs: 0 },
    );
  }

  init(): Promise<void> {
    return this.publisher.init();
  }

  /** Queues one change per user in `ids` (value `value(i)`), without publishing. */
  async enqueue(ids: readonly number[], value: (i: number) => string): Promise<void> {
    for (let at = 0; at < ids.length; at += 10_000) {
      const changes = ids.slice(at, at + 10_000).map((i) => ({
        requestId: `${value(i)}/${i}`,
        username: benchUsername(i),
        value: enc.encode(value(i)),
      }));
      await this.storage.enqueueMany(changes, 10_000_000);
    }
  }

  /**
   * Publishes the oldest `count` queued changes as one epoch. Changes queued behind them let
   * the publisher derive their labels during this epoch's tree work, as under a backlog.
   */
  async publishQueued(count: number): Promise<EpochTimes> {
    this.labelWallMs = 0;
    const clock = startClock();
    const record = await this.publisher.publishOnce();
    if (record === undefined || record.updates !== count)
      throw new Error('the epoch did not publish the batch');
    return { ...clock(), updates: count, labelWallMs: this.labelWallMs };
  }

  /** Queues one change per user in `ids` (value `value(i)`) and publishes them as one epoch. */
  async publish(ids: readonly number[], value: (i: number) => string): Promise<EpochTimes> {
    await this.enqueue(ids, value);
    return this.publishQueued(ids.length);
  }

  async close(): Promise<void> {
    await this.publisher.stop();
    await this.workers.close();
    this.storage.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** "0.410 ms CPU/update (main thread 0.200)" */
export function cpuPerUpdate(e: EpochTimes): string {
  return `${(e.cpuMs / e.updates).toFixed(3)} ms CPU/update (main thread ${(e.mainCpuMs / e.updates).toFixed(3)})`;
}

/** A benchmark's `--name` option as a positive integer. */
export function positiveOption(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}
