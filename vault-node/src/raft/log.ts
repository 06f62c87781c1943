// The core's view of the log: a snapshot (the compacted prefix, or the empty bootstrap one at
// index 0), the entries after it, how far the caller has made them durable, what is committed and
// applied, and the membership the log implies. No I/O: the caller persists what Ready hands out.

import { applyConfChange, decodeConfChange, decodeMembership } from './conf-change.ts';
import type { Entry, Membership, Snapshot } from './types.ts';

export class RaftLog {
  /** The compacted prefix; index 0 / term 0 for a log that was never compacted. */
  snapshot: Snapshot;
  /** A snapshot received from a leader that the caller has not persisted yet. */
  pendingSnapshot: Snapshot | null = null;
  /** entries[k].index === snapshot.metadata.index + 1 + k */
  private entries: Entry[] = [];
  /** Highest index the caller has persisted (through advance); the rest is handed out by Ready. */
  stable: number;
  committed: number;
  applied: number;
  /** Indices of entries that define the membership (see definesMembership), ascending. */
  private confIndices: number[] = [];
  private current: Membership;

  constructor(snapshot: Snapshot) {
    this.snapshot = snapshot;
    this.stable = snapshot.metadata.index;
    this.committed = snapshot.metadata.index;
    this.applied = snapshot.metadata.index;
    this.current = snapshot.metadata.membership;
  }

  firstIndex(): number {
    return this.snapshot.metadata.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.metadata.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of the entry at `i`, or undefined when it was compacted away or does not exist. */
  term(i: number): number | undefined {
    const s = this.snapshot.metadata;
    if (i === s.index) return s.term;
    if (i < s.index || i > this.lastIndex()) return undefined;
    return this.entries[i - s.index - 1]!.term;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Entries in [lo, hi); undefined when part of that range was compacted away. */
  slice(lo: number, hi: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    const off = this.snapshot.metadata.index + 1;
    return this.entries.slice(lo - off, Math.min(hi, this.lastIndex() + 1) - off);
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (index, term) at least as up to date? */
  isUpToDate(index: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && index >= this.lastIndex());
  }

  /**
   * The largest index <= `index` whose term is <= `term` (the snapshot's index at the lowest).
   * Used both to build a rejection hint and, on the leader, to skip a whole conflicting term.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshot.metadata.index && this.term(i)! > term) i--;
    return Math.max(i, this.snapshot.metadata.index);
  }

  /** Appends entries that follow on from the log or overwrite its tail from entries[0].index. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0]!.index;
    if (first <= this.committed) {
      throw new Error(`raft: refusing to overwrite committed entry ${first} (committed ${this.committed})`);
    }
    if (first > this.lastIndex() + 1) {
      throw new Error(`raft: entry ${first} would leave a gap after ${this.lastIndex()}`);
    }
    if (first <= this.lastIndex()) {
      this.entries.length = first - this.firstIndex();
      this.stable = Math.min(this.stable, first - 1);
      this.confIndices = this.confIndices.filter((i) => i < first);
      this.current = this.membershipAt(first - 1);
    }
    for (const e of ents) {
      this.entries.push(e);
      if (definesMembership(e)) {
        this.confIndices.push(e.index);
        this.current = nextMembership(this.current, e);
      }
    }
  }

  /**
   * A follower's append (§5.3): if the log holds (prevIndex, prevTerm), keep what matches, cut off
   * from the first conflict, append the rest. Returns the last index now known to match the
   * leader's, or null when the log does not hold (prevIndex, prevTerm).
   */
  maybeAppend(prevIndex: number, prevTerm: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    let k = 0;
    // Entries at or below the snapshot are committed and so match the leader's.
    while (k < ents.length && ents[k]!.index <= this.snapshot.metadata.index) k++;
    while (k < ents.length && this.matchTerm(ents[k]!.index, ents[k]!.term)) k++;
    if (k < ents.length) this.append(ents.slice(k));
    return lastNew;
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) {
      throw new Error(
        `raft: commit ${i} is beyond the last index ${this.lastIndex()}: the log was lost or truncated`,
      );
    }
    this.committed = i;
  }

  /** Entries the caller has not persisted yet. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.stable - this.snapshot.metadata.index);
  }

  /** The caller persisted entries up to (i, t); a later truncation may have replaced them. */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.matchTerm(i, t)) this.stable = i;
  }

  stableSnapshotTo(i: number): void {
    if (this.pendingSnapshot?.metadata.index === i) this.pendingSnapshot = null;
  }

  /** Committed entries the caller has not applied yet (none under an unpersisted snapshot). */
  nextCommitted(): Entry[] {
    const from = Math.max(this.applied, this.snapshot.metadata.index) + 1;
    return from > this.committed ? [] : this.slice(from, this.committed + 1)!;
  }

  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.snapshot.metadata.index);
  }

  appliedTo(i: number): void {
    if (i > this.applied) this.applied = i;
  }

  /** Replaces the whole log with a snapshot from the leader (the caller persists and restores it). */
  restore(s: Snapshot): void {
    this.snapshot = s;
    this.pendingSnapshot = s;
    this.entries = [];
    this.confIndices = [];
    this.current = s.metadata.membership;
    this.stable = s.metadata.index;
    this.committed = s.metadata.index;
  }

  /** Drops the prefix up to `s.metadata.index`, which the caller's own snapshot now covers. */
  compact(s: Snapshot): void {
    const i = s.metadata.index;
    this.entries = this.entries.slice(i - this.snapshot.metadata.index);
    this.snapshot = s;
    this.confIndices = this.confIndices.filter((c) => c > i);
    this.stable = Math.max(this.stable, i);
  }

  membership(): Membership {
    return this.current;
  }

  /** The membership in force once entry `i` is in the log (i >= the snapshot's index). */
  membershipAt(i: number): Membership {
    let m = this.snapshot.metadata.membership;
    for (const c of this.confIndices) {
      if (c > i) break;
      m = nextMembership(m, this.entries[c - this.firstIndex()]!);
    }
    return m;
  }

  /** Index of the newest entry defining the membership after the snapshot, or 0. */
  lastConfIndex(): number {
    return this.confIndices[this.confIndices.length - 1] ?? 0;
  }
}

/** Conf changes, and new leaders' noops that record the whole membership. */
function definesMembership(e: Entry): boolean {
  return e.type === 'conf-change' || (e.type === 'noop' && e.data.length > 0);
}

function nextMembership(m: Membership, e: Entry): Membership {
  return e.type === 'noop' ? decodeMembership(e.data) : applyConfChange(m, decodeConfChange(e.data));
}
