// Exponential backoff with jitter, and an abortable sleep. Jitter spreads the retries of many
// operators (or informers) that failed at the same moment, so they do not return in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Each delay is stretched by up to this fraction at random (client-go's wait.Jitter). */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  readonly #opts: Required<BackoffOptions>;
  #current = 0;

  constructor(opts: BackoffOptions) {
    this.#opts = { factor: 2, jitter: 0.5, random: Math.random, ...opts };
  }

  /** The next delay: initial, then ×factor each time up to max, each with jitter on top. */
  next(): number {
    const { initialMs, maxMs, factor } = this.#opts;
    this.#current = this.#current === 0 ? initialMs : Math.min(this.#current * factor, maxMs);
    return jittered(this.#current, this.#opts.jitter, this.#opts.random);
  }

  reset(): void {
    this.#current = 0;
  }
}

export function jittered(ms: number, factor: number, random: () => number = Math.random): number {
  return factor > 0 ? ms + random() * factor * ms : ms;
}

/** Resolves after `ms`, or early (to false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
