// A work queue of object keys with client-go's guarantees:
//  - a key is queued at most once however often it is added (the `dirty` set);
//  - a key being processed is never handed to a second worker: adds meanwhile only mark it
//    dirty, and `done` queues it again (the `processing` set);
//  - delayed adds (requeueAfter) keep the earliest time asked for;
//  - rate-limited adds wait as the rate limiter says (per-key backoff and a global bucket).
// Shutting down stops adds and hands no more keys out. Unlike client-go, keys still queued are
// dropped rather than worked off: a controller shuts down when it stops leading, and the next
// leader lists every object anyway. `drain` waits for the keys in flight to finish.
import { defaultControllerRateLimiter, type RateLimiter } from './ratelimiter.ts';

export interface QueueMetricsSink {
  depth(n: number): void;
  added(): void;
  retried(): void;
  /** Seconds a key waited in the queue before a worker took it. */
  queued(seconds: number): void;
  /** Seconds between a worker taking a key and calling done. */
  worked(seconds: number): void;
}

export interface WorkQueueOptions {
  rateLimiter?: RateLimiter;
  metrics?: QueueMetricsSink;
}

export class WorkQueue {
  readonly #limiter: RateLimiter;
  readonly #metrics: QueueMetricsSink | undefined;
  #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #waiting = new Map<string, number>();
  #timer?: NodeJS.Timeout;
  #getters: ((key: string | undefined) => void)[] = [];
  #drainers: (() => void)[] = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#limiter = opts.rateLimiter ?? defaultControllerRateLimiter();
    this.#metrics = opts.metrics;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys ready to be handed out (not counting delayed ones or ones in flight). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys waiting for their delay to pass. */
  delayed(): number {
    return this.#waiting.size;
  }

  processing(): number {
    return this.#processing.size;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#addedAt.set(key, performance.now());
    this.#metrics?.added();
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const readyAt = Date.now() + delayMs;
    const current = this.#waiting.get(key);
    if (current !== undefined && current <= readyAt) return;
    this.#waiting.set(key, readyAt);
    this.#schedule();
  }

  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retried();
    this.addAfter(key, this.#limiter.when(key));
  }

  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /** The next key to work on, once one is ready; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.#pop();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** The worker finished `key`; if it was added meanwhile, it is queued again now. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    const started = this.#startedAt.get(key);
    this.#startedAt.delete(key);
    if (started !== undefined) this.#metrics?.worked((performance.now() - started) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    if (this.#shuttingDown && this.#processing.size === 0) for (const d of this.#drainers.splice(0)) d();
  }

  /** Stops the queue; with `drain`, resolves once every key in flight is done. */
  async shutdown(opts: { drain?: boolean } = {}): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      clearTimeout(this.#timer);
      this.#waiting.clear();
      this.#queue = [];
      this.#dirty.clear();
      this.#addedAt.clear();
      this.#metrics?.depth(0);
      for (const g of this.#getters.splice(0)) g(undefined);
    }
    if (opts.drain && this.#processing.size > 0)
      await new Promise<void>((resolve) => this.#drainers.push(resolve));
  }

  #push(key: string): void {
    const getter = this.#getters.shift();
    if (getter) {
      this.#queue.push(key);
      getter(this.#pop());
      return;
    }
    this.#queue.push(key);
    this.#metrics?.depth(this.#queue.length);
  }

  #pop(): string | undefined {
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#metrics?.depth(this.#queue.length);
    this.#processing.add(key);
    this.#dirty.delete(key);
    const added = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (added !== undefined) this.#metrics?.queued((performance.now() - added) / 1000);
    this.#startedAt.set(key, performance.now());
    return key;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#waiting.size === 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.#waiting.values()) next = Math.min(next, at);
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, next - Date.now()));
    this.#timer.unref();
  }

  #fire(): void {
    const now = Date.now();
    for (const [key, readyAt] of this.#waiting) {
      if (readyAt > now) continue;
      this.#waiting.delete(key);
      this.add(key);
    }
    this.#schedule();
  }
}
