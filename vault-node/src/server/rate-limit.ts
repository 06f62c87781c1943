// Per-source token buckets for the client API: a source that sends faster than `ratePerSecond`
// (with bursts up to `burst`) is answered 429 until it slows down. The table is bounded: when it is
// full the stalest source is forgotten (it starts again with a full bucket).
export class SourceRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxSources: number;
  readonly #now: () => number;

  constructor(o: { ratePerSecond: number; burst: number; maxSources?: number; now?: () => number }) {
    this.#rate = o.ratePerSecond;
    this.#burst = o.burst;
    this.#maxSources = o.maxSources ?? 10_000;
    this.#now = o.now ?? (() => performance.now() / 1000);
  }

  /** Takes one token for `source`; false when its bucket is empty. */
  take(source: string): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(source);
    if (bucket) this.#buckets.delete(source);
    else {
      if (this.#buckets.size >= this.#maxSources) {
        const stalest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(stalest);
      }
      bucket = { tokens: this.#burst, at: now };
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.set(source, bucket); // re-inserted: the Map's order is least recently used first
    return allowed;
  }
}
