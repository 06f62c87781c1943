// The epoch publisher: drains the queue into epochs, one writer at a time. An epoch is cut
// when the queue holds a full batch or the oldest change has waited an interval. Each epoch is
// one storage transaction (tree nodes, value states, signed head, audit blob, queue drain);
// the audit blob is copied to audit storage after the commit, and on start every committed
// blob missing from audit storage is copied again, so a crash between the two loses nothing.
import type { DirectoryMetrics } from '../metrics.ts';
import type { DirectoryStorage, EpochRecord, QueuedChange } from '../storage/types.ts';
import type { AuditStorage } from './audit-storage.ts';
import { buildEpoch, type DirectoryContext, firstChangePerUser, planEpoch } from './epoch-builder.ts';
import { PrefetchingLabelDeriver } from './label-prefetch.ts';
import type { LabelRequest } from './labels.ts';
import type { WriterLock } from './writer-lock.ts';

export type PublisherOptions = {
  readonly maxBatchSize: number;
  readonly epochIntervalMs: number;
  /** how often the loop looks at the queue */
  readonly pollMs?: number;
  /** Test hook: called after the commit, before the audit blob is stored. */
  readonly afterCommit?: (record: EpochRecord) => void;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
};

export class Publisher {
  private readonly storage: DirectoryStorage;
  private readonly ctx: DirectoryContext;
  private readonly audit: AuditStorage;
  private readonly lock: WriterLock;
  private readonly metrics: DirectoryMetrics | undefined;
  private readonly options: PublisherOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCut: number;
  /** set when copying a committed blob to audit storage failed; retried before the next epoch */
  private auditBehind = false;
  /** the batch being published (its labels are derived; the next batch's are speculated) */
  private currentBatch: readonly QueuedChange[] = [];

  constructor(
    storage: DirectoryStorage,
    ctx: DirectoryContext,
    audit: AuditStorage,
    lock: WriterLock,
    options: PublisherOptions,
    metrics?: DirectoryMetrics,
  ) {
    this.storage = storage;
    const labels = new PrefetchingLabelDeriver(ctx.labels);
    labels.speculate = () => this.nextBatchRequests();
    this.ctx = { ...ctx, labels };
    this.audit = audit;
    this.lock = lock;
    this.options = options;
    this.metrics = metrics;
    this.lastCut = ctx.now();
  }

  /** Takes the writer lock and copies committed audit blobs that audit storage lacks. */
  async init(): Promise<void> {
    await this.lock.acquire();
    await this.reconcileAuditStorage();
  }

  async reconcileAuditStorage(): Promise<number> {
    const latest = await this.storage.read((s) => s.latestEpoch());
    let copied = 0;
    // Walk back from the newest epoch until one is already stored (older ones were then too).
    for (let e = latest?.epoch ?? 0; e >= 1; e--) {
      const record = await this.storage.read((s) => s.epoch(e));
      if (record === undefined) break;
      const stored = await this.audit.list(e);
      if (stored.length > 0) break;
      await this.audit.put(e, record.previousRootHash, record.rootHash, record.auditBlob);
      copied++;
    }
    if (latest) this.metrics?.epoch.set(latest.epoch);
    return copied;
  }

  /** Cuts one epoch from up to maxBatchSize pending changes. Returns it, if one was published. */
  async publishOnce(): Promise<EpochRecord | undefined> {
    if (!this.lock.held()) throw new Error('not the directory writer (writer lock lost)');
    if (this.auditBehind) {
      await this.reconcileAuditStorage();
      this.auditBehind = false;
    }
    const started = performance.now();
    const pending = await this.storage.pending(this.options.maxBatchSize);
    this.lastCut = this.ctx.now();
    if (pending.length === 0) return undefined;
    this.currentBatch = pending;
    const built = await buildEpoch(this.storage, this.ctx, pending);
    if (built.commit === undefined) {
      await this.storage.dropQueued(built.noOps);
      this.options.log?.('changes.noop', { dropped: built.noOps.length });
      return undefined;
    }
    const { record } = built.commit;
    await this.storage.commitEpoch(built.commit);
    this.options.afterCommit?.(record);
    try {
      await this.audit.put(record.epoch, record.previousRootHash, record.rootHash, record.auditBlob);
    } catch (e) {
      this.auditBehind = true;
      throw e;
    }
    const seconds = (performance.now() - started) / 1000;
    this.metrics?.epoch.set(record.epoch);
    this.metrics?.batchSize.observe(record.updates);
    this.metrics?.publishDuration.observe(seconds);
    this.metrics?.queueDepth.set(await this.storage.queueDepth());
    this.options.log?.('epoch.published', { epoch: record.epoch, updates: record.updates, seconds });
    return record;
  }

  /**
   * The labels the next epoch will probably need, derived while this one's tree work runs:
   * the queued changes after the current batch, less the users in it (their versions are
   * about to change), planned against the committed value states.
   */
  private async nextBatchRequests(): Promise<readonly LabelRequest[]> {
    const current = this.currentBatch;
    const max = this.options.maxBatchSize;
    const inCurrent = new Set(current.map((c) => c.seq));
    const users = new Set(current.map((c) => Buffer.from(c.username).toString('hex')));
    const queued = await this.storage.pending(current.length + max);
    const next = firstChangePerUser(queued.filter((c) => !inCurrent.has(c.seq)).slice(0, max)).filter(
      (c) => !users.has(Buffer.from(c.username).toString('hex')),
    );
    if (next.length === 0) return [];
    const states = await this.storage.read((snap) => snap.latestValueStates(next.map((c) => c.username)));
    return planEpoch(next, states).requests;
  }

  /** Whether the queue calls for an epoch now. */
  private async due(): Promise<boolean> {
    const depth = await this.storage.queueDepth();
    this.metrics?.queueDepth.set(depth);
    if (depth === 0) return false;
    return (
      depth >= this.options.maxBatchSize || this.ctx.now() - this.lastCut >= this.options.epochIntervalMs
    );
  }

  start(onError: (e: unknown) => void): void {
    const tick = async () => {
      try {
        while (await this.due()) await this.publishOnce();
      } catch (e) {
        onError(e);
      }
      if (this.timer !== undefined) this.timer = setTimeout(run, this.options.pollMs ?? 200);
    };
    const run = () => {
      this.running = tick();
    };
    this.timer = setTimeout(run, this.options.pollMs ?? 200);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
    await this.lock.release();
  }
}
