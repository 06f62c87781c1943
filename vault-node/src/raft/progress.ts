// What a leader knows of one follower's log, and how fast it may send to it.
//   probe      one append in flight until it is answered (or a heartbeat answer unpauses it),
//              backing off on rejection until the follower's log matches
//   replicate  appends stream optimistically, at most `maxInflight` unacknowledged at once
//   snapshot   the follower needs the compacted prefix; appends wait for its answer

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe: an append is in flight and unanswered. */
  probeSent = false;
  /** Snapshot: the index of the snapshot sent, and leader ticks since. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** Last index of each unacknowledged append, oldest first (replicate). */
  private inflight: number[] = [];
  private readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower most likely installed it.
    this.next =
      this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflight = [];
  }

  /** An acknowledgement up to `n`: false when it is stale. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * A rejection of the append that followed `rejected`; `hint` is the leader's guess of the last
   * index that matches. False when the rejection is stale (answers an append sent before a newer one).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Records an append of entries ending at `last` (none: last = next - 1). */
  sentAppend(last: number, entries: number): void {
    if (this.state === 'replicate' && entries > 0) {
      this.next = last + 1;
      this.inflight.push(last);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the inflight slots of appends acknowledged up to `index`. */
  freeTo(index: number): void {
    let k = 0;
    while (k < this.inflight.length && this.inflight[k]! <= index) k++;
    if (k > 0) this.inflight.splice(0, k);
  }

  /** A heartbeat answer proves the follower alive: let one more append through. */
  freeFirst(): void {
    if (this.inflight.length >= this.maxInflight) this.inflight.shift();
  }
}
