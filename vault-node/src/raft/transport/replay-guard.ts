// Replay resistance for signed peer envelopes. Each sender stamps an envelope with a counter that
// is strictly increasing for the life of its process and starts from the wall clock in
// microseconds, so it keeps increasing across restarts. A receiver accepts an envelope only if its
// counter is above the last one accepted from that sender on that channel, and within a window of
// the receiver's clock (so a captured envelope cannot be replayed to a receiver that restarted and
// forgot what it had seen).

import type { MemberId } from '../types.ts';

export const DEFAULT_WINDOW_US = 60_000_000;

export class CounterSource {
  private last = 0;
  private readonly now: () => number;

  constructor(nowUs: () => number = () => Date.now() * 1000) {
    this.now = nowUs;
  }

  next(): number {
    this.last = Math.max(this.last + 1, Math.floor(this.now()));
    return this.last;
  }
}

export type ReplayVerdict = 'ok' | 'replay' | 'outside-window';

export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  private readonly windowUs: number;
  private readonly now: () => number;

  constructor(windowUs = DEFAULT_WINDOW_US, nowUs: () => number = () => Date.now() * 1000) {
    this.windowUs = windowUs;
    this.now = nowUs;
  }

  /** Checks and, when accepted, records the counter. Call only after the signature verified. */
  accept(from: MemberId, channel: number, counter: number): ReplayVerdict {
    if (Math.abs(counter - this.now()) > this.windowUs) return 'outside-window';
    const key = `${channel}/${from}`;
    const last = this.seen.get(key) ?? 0;
    if (counter <= last) return 'replay';
    this.seen.set(key, counter);
    return 'ok';
  }
}
