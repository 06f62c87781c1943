// Replay resistance for forwarded client requests. Unlike Raft envelopes (one request in flight per
// channel, so counters arrive in order), a follower forwards many client requests at once over
// parallel connections and they may arrive out of order. So instead of "above the last counter",
// each counter is accepted once within a time window of the receiver's clock: counters outside the
// window are refused, and the ones inside it are remembered until they fall out of it. Memory is
// bounded per sender (only authenticated members reach this check, so senders are bounded too):
// a sender over the cap is refused until its old counters expire, never tracked partially.

export const FORWARD_WINDOW_US = 30_000_000;
const MAX_REMEMBERED_PER_SENDER = 100_000;

export type ForwardReplayVerdict = 'ok' | 'replay' | 'outside-window' | 'too-many';

export class ForwardReplayGuard {
  readonly #seen = new Map<string, Set<number>>();
  readonly #windowUs: number;
  readonly #maxPerSender: number;
  readonly #nowUs: () => number;

  constructor(o: { windowUs?: number; maxPerSender?: number; nowUs?: () => number } = {}) {
    this.#windowUs = o.windowUs ?? FORWARD_WINDOW_US;
    this.#maxPerSender = o.maxPerSender ?? MAX_REMEMBERED_PER_SENDER;
    this.#nowUs = o.nowUs ?? (() => Date.now() * 1000);
  }

  /** Checks and, when accepted, records the counter. Call only after the signature verified. */
  accept(from: string, counter: number): ForwardReplayVerdict {
    const now = this.#nowUs();
    if (Math.abs(counter - now) > this.#windowUs) return 'outside-window';
    let seen = this.#seen.get(from);
    if (!seen) {
      seen = new Set();
      this.#seen.set(from, seen);
    }
    // Insertion order is the sender's order give or take in-flight reordering: drop from the front
    // what the window already refuses.
    for (const c of seen) {
      if (c >= now - this.#windowUs) break;
      seen.delete(c);
    }
    if (seen.has(counter)) return 'replay';
    if (seen.size >= this.#maxPerSender) return 'too-many';
    seen.add(counter);
    return 'ok';
  }
}
