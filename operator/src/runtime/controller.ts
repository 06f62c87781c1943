// A controller: informers feed keys into a work queue; N workers take keys and call
// reconcile(key). The queue guarantees one reconcile per key at a time; a reconcile that throws
// is retried with per-key backoff, one that returns {requeueAfter} comes back after that long.
// A controller can be started and stopped repeatedly (once per term of leadership); each start
// gets a fresh queue, and the informers' late-handler replay enqueues every cached object.
import { type Logger, silentLogger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { isConflict } from './errors.ts';
import type { Informer } from './informer.ts';
import type { RateLimiter } from './ratelimiter.ts';
import { type KubeObject, objectKey, splitKey } from './resource.ts';
import { type QueueMetricsSink, WorkQueue } from './workqueue.ts';

export interface ReconcileRequest {
  key: string;
  namespace?: string;
  name: string;
  /** Aborted when the controller stops (e.g. leadership lost): stop writing and return. */
  signal: AbortSignal;
  log: Logger;
}

export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (e.g. to poll a member's progress). */
  requeueAfter?: number;
  /** Reconcile again soon, with the rate limiter's backoff. */
  requeue?: boolean;
}

// biome-ignore lint/suspicious/noConfusingVoidType: lets a reconciler that has nothing to ask for just return
export type Reconciler = (req: ReconcileRequest) => Promise<ReconcileResult | void>;

/** An informer whose events become keys of this controller's kind. */
export interface WatchSource {
  // biome-ignore lint/suspicious/noExplicitAny: a controller watches informers of many object types
  informer: Informer<any>;
  toKeys(obj: KubeObject): string[];
}

/** Events of the controller's own kind enqueue the object's key. */
export function watchPrimary<T extends KubeObject>(informer: Informer<T>): WatchSource {
  return { informer, toKeys: (obj) => [objectKey(obj)] };
}

/** Events of an owned object enqueue its controlling owner of `ownerKind` (same namespace). */
export function watchOwned<T extends KubeObject>(informer: Informer<T>, ownerKind: string): WatchSource {
  return {
    informer,
    toKeys: (obj) => {
      const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === ownerKind);
      if (!ref) return [];
      const ns = obj.metadata?.namespace;
      return [ns ? `${ns}/${ref.name}` : ref.name];
    },
  };
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  watches: WatchSource[];
  workers?: number;
  /** A new limiter per start; defaults to 5 ms..5 min per key within a 10 qps / 100 burst bucket. */
  rateLimiter?: () => RateLimiter;
  metrics?: OperatorMetrics;
  logger?: Logger;
}

export class Controller {
  readonly name: string;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  #queue?: WorkQueue;
  #unsubscribe: (() => void)[] = [];
  #workers: Promise<void>[] = [];
  #stop?: AbortController;
  #running = false;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ controller: opts.name });
  }

  /** True from the moment the workers run until stop() begins. */
  get running(): boolean {
    return this.#running;
  }

  get queue(): WorkQueue | undefined {
    return this.#queue;
  }

  /** Subscribes to the informers, waits until they have synced, then starts the workers. */
  async start(): Promise<void> {
    if (this.#queue) throw new Error(`controller ${this.name} is already started`);
    const stop = new AbortController();
    this.#stop = stop;
    const queue = new WorkQueue({ rateLimiter: this.#opts.rateLimiter?.(), metrics: this.#queueMetrics() });
    this.#queue = queue;
    for (const w of this.#opts.watches) {
      const enqueue = (obj: KubeObject) => {
        for (const k of w.toKeys(obj)) queue.add(k);
      };
      this.#unsubscribe.push(
        w.informer.addEventHandler({
          onAdd: enqueue,
          onUpdate: (oldObj, newObj) => {
            enqueue(newObj);
            if (oldObj !== newObj) enqueue(oldObj);
          },
          onDelete: enqueue,
        }),
      );
    }
    for (const w of this.#opts.watches) {
      if (!(await w.informer.waitForSync(stop.signal))) return;
    }
    if (stop.signal.aborted) return;
    const n = this.#opts.workers ?? 2;
    this.#workers = Array.from({ length: n }, () => this.#work(queue, stop.signal));
    this.#running = true;
    this.#log.info('controller started', { workers: n });
  }

  /** Stops taking keys; with drain (the default) waits for the reconciles in flight. */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    if (!this.#queue) return;
    this.#running = false;
    for (const u of this.#unsubscribe.splice(0)) u();
    this.#stop?.abort();
    await this.#queue.shutdown({ drain: opts.drain ?? true });
    await Promise.all(this.#workers);
    this.#workers = [];
    this.#queue = undefined;
    this.#log.info('controller stopped');
  }

  #queueMetrics(): QueueMetricsSink | undefined {
    const m = this.#opts.metrics;
    if (!m) return undefined;
    const labels = { controller: this.name };
    return {
      depth: (n) => m.workqueueDepth.set(labels, n),
      added: () => m.workqueueAdds.inc(labels),
      retried: () => m.workqueueRetries.inc(labels),
      queued: (s) => m.workqueueQueueDuration.observe(labels, s),
      worked: (s) => m.workqueueWorkDuration.observe(labels, s),
    };
  }

  async #work(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      try {
        await this.#reconcileOne(queue, key, signal);
      } finally {
        queue.done(key);
      }
    }
  }

  async #reconcileOne(queue: WorkQueue, key: string, signal: AbortSignal): Promise<void> {
    const m = this.#opts.metrics;
    const log = this.#log.child({ key });
    const { namespace, name } = splitKey(key);
    const started = performance.now();
    let result: 'success' | 'error' | 'requeue';
    try {
      const out = (await this.#opts.reconcile({ key, namespace, name, signal, log })) ?? {};
      if (out.requeueAfter !== undefined && out.requeueAfter > 0) {
        queue.forget(key);
        queue.addAfter(key, out.requeueAfter);
        result = 'requeue';
      } else if (out.requeue) {
        queue.addRateLimited(key);
        result = 'requeue';
      } else {
        queue.forget(key);
        result = 'success';
      }
      log.debug('reconciled', { result, requeueAfterMs: out.requeueAfter });
    } catch (err) {
      result = 'error';
      if (!signal.aborted) {
        queue.addRateLimited(key);
        // A conflict only means our cache was behind; the retry sees the newer object.
        if (isConflict(err)) log.info('reconcile hit a write conflict; retrying', { err });
        else log.error('reconcile failed', { err, retries: queue.numRequeues(key) });
      }
    }
    m?.reconcileTotal.inc({ controller: this.name, result });
    m?.reconcileDuration.observe({ controller: this.name }, (performance.now() - started) / 1000);
  }
}
