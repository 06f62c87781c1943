// The Raft consensus core, shaped like go.etcd.io/raft: no I/O, no clock, no randomness of its
// own. The caller feeds it ticks, peer messages and proposals, and drains Ready: persist the hard
// state, entries and snapshot; then send the messages; then apply the committed entries; then
// advance(). Same config, same random, same inputs: same outputs.
//
// Safety rules, and where they live:
//   one vote per term, persisted before the vote is sent      #handleVote + Ready ordering
//   a vote only for a log at least as up to date (§5.4.1)     RaftLog.isUpToDate
//   commit only an entry of the leader's own term (§5.4.2)    #maybeCommit
//   never overwrite a committed entry                         RaftLog.append throws
//   one membership change at a time, after a commit in term   proposeConfChange
//   reads confirmed by a quorum heartbeat round in term       #readIndexLocal, #handleHeartbeatResponse

import {
  confChangeProblem,
  encodeConfChange,
  encodeMembership,
  isMember,
  isVoter,
  quorum,
  sameMembership,
} from './conf-change.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import type {
  ConfChange,
  Entry,
  EntryType,
  HardState,
  MemberId,
  Membership,
  Message,
  MessageType,
  Ready,
  Role,
  Snapshot,
} from './types.ts';

export interface RaftConfig {
  id: MemberId;
  /** Ticks without a leader before a follower campaigns; randomised in [n, 2n). Default 10. */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  heartbeatTicks?: number;
  /** Uniform in [0, 1): the only source of randomness (election timeouts). */
  random: () => number;
  initial: {
    hardState: HardState;
    /** Persisted entries; those at or below the snapshot's index are ignored. */
    entries: readonly Entry[];
    snapshot?: Snapshot;
    /**
     * The bootstrap membership, used when there is no snapshot (a new member joining an existing
     * fleet starts with no voters and no learners). The conf-change entries of `entries` are
     * replayed on top of it, or on top of the snapshot's membership.
     */
    membership: Membership;
    /** Index the caller's state machine already reflects; default: the snapshot's index. */
    applied?: number;
  };
  /** Entries per append message. Default 256. */
  maxEntriesPerAppend?: number;
  /** Unacknowledged appends per follower while replicating. Default 256. */
  maxInflightAppends?: number;
  /** Leader steps down without a quorum of recent contact; followers keep a live leader. Default true. */
  checkQuorum?: boolean;
  /** Campaign only after a pre-vote round says the election could be won. Default true. */
  preVote?: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: 'not-leader'; leader: MemberId | null }
  | { ok: false; reason: 'transferring' | 'dropped'; detail?: string };

export interface RaftStatus {
  id: MemberId;
  term: number;
  role: Role;
  leader: MemberId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  membership: Membership;
  /** Leader only. */
  progress?: Record<MemberId, { match: number; next: number; recentActive: boolean; state: string }>;
}

/** Marks a vote asked for by a leadership transfer: it may disturb a live leader. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('campaign-transfer');

type InternalRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface ReadRequest {
  readonly key: string;
  readonly index: number;
  readonly context: Uint8Array;
  /** null: asked on this member; otherwise the follower that forwarded it. */
  readonly from: MemberId | null;
  readonly acks: Set<MemberId>;
}

const EMPTY = new Uint8Array(0);

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

export class RaftCore {
  readonly #id: MemberId;
  readonly #electionTicks: number;
  readonly #heartbeatTicks: number;
  readonly #random: () => number;
  readonly #checkQuorum: boolean;
  readonly #preVote: boolean;
  readonly #maxEntries: number;
  readonly #maxInflight: number;
  readonly #log: RaftLog;

  #term = 0;
  #vote: MemberId | null = null;
  #role: InternalRole = 'follower';
  #leader: MemberId | null = null;
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedTimeout = 0;
  #votes = new Map<MemberId, boolean>();
  #progress = new Map<MemberId, Progress>();
  #transferee: MemberId | null = null;
  /** Leader: appends to every follower are due (batched until the next Ready). */
  #broadcastDue = false;
  /** The commit index the last broadcast told (commit notices go out only when it advanced). */
  #commitBroadcast = 0;
  /** Leader: a heartbeat round for the newest ReadIndex request is due (one round serves all). */
  #readRoundDue = false;

  #msgs: Message[] = [];
  #readStates: { index: number; context: Uint8Array }[] = [];
  #reads: ReadRequest[] = [];
  /** Reads that arrived before the leader committed an entry of its term. */
  #readsWaiting: { from: MemberId | null; context: Uint8Array }[] = [];

  #prevHard: HardState;
  #prevSoft: { leader: MemberId | null; role: Role };
  #prevMembership: Membership;

  constructor(config: RaftConfig) {
    this.#id = config.id;
    this.#electionTicks = config.electionTicks ?? 10;
    this.#heartbeatTicks = config.heartbeatTicks ?? 1;
    this.#random = config.random;
    this.#checkQuorum = config.checkQuorum ?? true;
    this.#preVote = config.preVote ?? true;
    this.#maxEntries = config.maxEntriesPerAppend ?? 256;
    this.#maxInflight = config.maxInflightAppends ?? 256;
    if (this.#heartbeatTicks < 1 || this.#electionTicks <= this.#heartbeatTicks) {
      throw new Error(
        `raft: electionTicks (${this.#electionTicks}) must exceed heartbeatTicks (${this.#heartbeatTicks}) >= 1`,
      );
    }

    const init = config.initial;
    const snap: Snapshot = init.snapshot ?? {
      metadata: { index: 0, term: 0, membership: init.membership },
      data: EMPTY,
    };
    this.#log = new RaftLog(snap);
    const ents = init.entries.filter((e) => e.index > snap.metadata.index);
    if (ents.length > 0 && ents[0]!.index !== snap.metadata.index + 1) {
      throw new Error(
        `raft: persisted log starts at ${ents[0]!.index}, after snapshot ${snap.metadata.index}`,
      );
    }
    this.#log.append(ents);
    this.#log.stable = this.#log.lastIndex();
    const hs = init.hardState;
    this.#log.commitTo(hs.commit); // throws when the persisted commit is beyond the log
    const applied = init.applied ?? snap.metadata.index;
    if (applied < snap.metadata.index || applied > this.#log.committed) {
      throw new Error(
        `raft: applied ${applied} outside [snapshot ${snap.metadata.index}, commit ${this.#log.committed}]`,
      );
    }
    this.#log.applied = applied;
    this.#term = hs.term;
    this.#vote = hs.vote;
    this.#resetTimers();
    this.#prevHard = this.#hardState();
    this.#prevSoft = this.#softState();
    this.#prevMembership = this.#log.membership();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.#role === 'leader') {
      this.#tickLeader();
      return;
    }
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#randomizedTimeout && this.#promotable()) {
      this.#electionElapsed = 0;
      this.#hup(false);
    }
  }

  step(m: Message): void {
    if (m.to !== this.#id || m.from === this.#id) return;
    if (m.type === 'propose') {
      // Forwarded by a follower; the sender cannot learn the index, so this is at-least-once.
      if (this.#role === 'leader' && this.#transferee === null && m.entries?.length) {
        this.#appendNew(m.entries.map((e) => ({ type: 'normal' as const, data: e.data })));
      }
      return;
    }
    if (m.term > this.#term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        const transfer = m.type === 'vote' && sameBytes(m.context, CAMPAIGN_TRANSFER);
        const inLease =
          this.#checkQuorum && this.#leader !== null && this.#electionElapsed < this.#electionTicks;
        // Leader stickiness: while a live leader is heard from, nobody can force an election.
        if (inLease && !transfer) return;
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-response' && !m.reject)) {
        // A pre-vote changes no term: the campaign may never happen.
      } else if (
        m.type === 'append' ||
        m.type === 'heartbeat' ||
        m.type === 'commit' ||
        m.type === 'snapshot'
      ) {
        this.#becomeFollower(m.term, m.from);
      } else {
        this.#becomeFollower(m.term, null);
      }
    } else if (m.term < this.#term) {
      if (
        (this.#checkQuorum || this.#preVote) &&
        (m.type === 'append' || m.type === 'heartbeat' || m.type === 'commit')
      ) {
        // A leader cut off long enough to miss a term change: tell it, so it steps down (with
        // pre-vote its followers' terms never bump to catch its attention otherwise).
        this.#send({ type: 'append-response', to: m.from });
      } else if (m.type === 'pre-vote') {
        this.#send({ type: 'pre-vote-response', to: m.from, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'pre-vote') {
      this.#handleVote(m);
      return;
    }
    switch (this.#role) {
      case 'leader':
        this.#stepLeader(m);
        break;
      case 'pre-candidate':
      case 'candidate':
        this.#stepCandidate(m);
        break;
      case 'follower':
        this.#stepFollower(m);
        break;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    return this.#propose('normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.#role === 'leader') {
      if (this.#log.term(this.#log.committed) !== this.#term) {
        return {
          ok: false,
          reason: 'dropped',
          detail: 'the leader has not yet committed an entry of its term',
        };
      }
      const pending = this.#log.lastConfIndex();
      if (pending > this.#log.committed) {
        return {
          ok: false,
          reason: 'dropped',
          detail: `the membership change at index ${pending} is not committed yet (commit ${this.#log.committed})`,
        };
      }
      const problem = confChangeProblem(this.#log.membership(), cc);
      if (problem !== null) return { ok: false, reason: 'dropped', detail: problem };
    }
    return this.#propose('conf-change', encodeConfChange(cc));
  }

  readIndex(context: Uint8Array): void {
    if (this.#role === 'leader') this.#handleReadIndex(null, context);
    else if (this.#leader !== null) this.#send({ type: 'read-index', to: this.#leader, context });
    // No known leader: dropped; the caller times out and asks again.
  }

  /** Leader only; elsewhere a no-op (ask the leader status() names). */
  transferLeadership(to: MemberId): void {
    if (this.#role !== 'leader' || to === this.#id) return;
    if (this.#transferee === to) return;
    if (!isVoter(this.#log.membership(), to)) return;
    this.#transferee = to;
    // The transfer must finish within an election timeout, or it is abandoned (#tickLeader).
    this.#electionElapsed = 0;
    const pr = this.#progress.get(to)!;
    if (pr.match === this.#log.lastIndex()) this.#send({ type: 'timeout-now', to });
    else this.#sendAppend(to);
  }

  // ---------------------------------------------------------------- Ready

  hasReady(): boolean {
    this.#flushBroadcast();
    const log = this.#log;
    return (
      this.#msgs.length > 0 ||
      this.#readStates.length > 0 ||
      log.pendingSnapshot !== null ||
      log.lastIndex() > log.stable ||
      log.hasNextCommitted() ||
      !sameHard(this.#hardState(), this.#prevHard) ||
      !sameSoft(this.#softState(), this.#prevSoft) ||
      !sameMembership(log.membership(), this.#prevMembership)
    );
  }

  ready(): Ready {
    this.#flushBroadcast();
    const log = this.#log;
    const hs = this.#hardState();
    const ss = this.#softState();
    const m = log.membership();
    return {
      ...(sameHard(hs, this.#prevHard) ? {} : { hardState: hs }),
      entries: log.unstableEntries(),
      ...(log.pendingSnapshot ? { snapshot: log.pendingSnapshot } : {}),
      messages: this.#msgs.slice(),
      committedEntries: log.nextCommitted(),
      readStates: this.#readStates.slice(),
      ...(sameSoft(ss, this.#prevSoft) ? {} : { softState: ss }),
      ...(sameMembership(m, this.#prevMembership) ? {} : { membership: m }),
    };
  }

  advance(rd: Ready): void {
    const log = this.#log;
    if (rd.hardState) this.#prevHard = rd.hardState;
    if (rd.softState) this.#prevSoft = rd.softState;
    if (rd.membership) this.#prevMembership = rd.membership;
    if (rd.snapshot) {
      log.stableSnapshotTo(rd.snapshot.metadata.index);
      log.appliedTo(rd.snapshot.metadata.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    // Our own entries just became durable: as leader they may now complete a quorum.
    if (this.#role === 'leader' && (last || rd.snapshot)) this.#maybeCommit();
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied) log.appliedTo(applied.index);
    this.#msgs.splice(0, rd.messages.length);
    this.#readStates.splice(0, rd.readStates.length);
  }

  /**
   * The caller took a state-machine snapshot at `index` (<= applied): drop the log up to it.
   * Returns the snapshot to persist (its term and membership are the log's at `index`); when the
   * log already starts after `index`, the snapshot it starts from, which covers `index`.
   */
  compact(index: number, snapshotData: Uint8Array): Snapshot {
    const log = this.#log;
    if (index > log.applied) {
      throw new Error(`raft: cannot compact to ${index}, beyond applied ${log.applied}`);
    }
    if (index <= log.snapshot.metadata.index) return log.snapshot;
    const s: Snapshot = {
      metadata: { index, term: log.term(index)!, membership: log.membershipAt(index) },
      data: snapshotData,
    };
    log.compact(s);
    return s;
  }

  status(): RaftStatus {
    const log = this.#log;
    const st: RaftStatus = {
      id: this.#id,
      term: this.#term,
      role: this.#softState().role,
      leader: this.#leader,
      commit: log.committed,
      applied: log.applied,
      lastIndex: log.lastIndex(),
      membership: log.membership(),
    };
    if (this.#role === 'leader') {
      st.progress = {};
      for (const [id, pr] of this.#progress) {
        st.progress[id] = { match: pr.match, next: pr.next, recentActive: pr.recentActive, state: pr.state };
      }
    }
    return st;
  }

  // ---------------------------------------------------------------- roles

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #softState(): { leader: MemberId | null; role: Role } {
    const role: Role =
      this.#role === 'follower' && this.#log.membership().learners.includes(this.#id)
        ? 'learner'
        : this.#role;
    return { leader: this.#leader, role };
  }

  #promotable(): boolean {
    return isVoter(this.#log.membership(), this.#id);
  }

  #resetTimers(): void {
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedTimeout = this.#electionTicks + Math.floor(this.#random() * this.#electionTicks);
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#leader = null;
    this.#resetTimers();
    this.#votes.clear();
    this.#transferee = null;
    this.#broadcastDue = false;
    this.#readRoundDue = false;
    this.#reads = [];
    this.#readsWaiting = [];
  }

  #becomeFollower(term: number, leader: MemberId | null): void {
    this.#reset(term);
    this.#role = 'follower';
    this.#leader = leader;
  }

  #becomeLeader(): void {
    this.#reset(this.#term);
    this.#role = 'leader';
    this.#leader = this.#id;
    this.#progress.clear();
    const m = this.#log.membership();
    for (const id of [...m.voters, ...m.learners]) {
      this.#progress.set(id, new Progress(this.#log.lastIndex() + 1, this.#maxInflight));
    }
    const self = this.#progress.get(this.#id)!;
    self.match = this.#log.lastIndex();
    self.becomeReplicate();
    // An entry of the new term: committing it commits everything before it (§5.4.2, §8). It
    // records the membership for members that joined without knowing the bootstrap one.
    this.#appendNew([{ type: 'noop', data: encodeMembership(this.#log.membership()) }]);
  }

  /** Starts an election: a pre-vote round first unless `transfer` (the leader asked us to). */
  #hup(transfer: boolean): void {
    if (this.#role === 'leader' || !this.#promotable()) return;
    const pre = this.#preVote && !transfer;
    if (pre) {
      this.#role = 'pre-candidate';
      this.#leader = null;
      this.#votes.clear();
      // Pre-candidates re-randomise too, so competing ones fall out of step.
      this.#randomizedTimeout = this.#electionTicks + Math.floor(this.#random() * this.#electionTicks);
    } else {
      this.#reset(this.#term + 1);
      this.#role = 'candidate';
      this.#vote = this.#id;
    }
    this.#votes.set(this.#id, true);
    if (this.#tallyWon()) {
      if (pre) this.#hup(true);
      else this.#becomeLeader();
      return;
    }
    const term = pre ? this.#term + 1 : this.#term;
    for (const to of this.#log.membership().voters) {
      if (to === this.#id) continue;
      this.#send({
        type: pre ? 'pre-vote' : 'vote',
        to,
        term,
        index: this.#log.lastIndex(),
        logTerm: this.#log.lastTerm(),
        ...(transfer ? { context: CAMPAIGN_TRANSFER } : {}),
      });
    }
  }

  #tallyWon(): boolean {
    const m = this.#log.membership();
    let granted = 0;
    for (const v of m.voters) if (this.#votes.get(v) === true) granted++;
    return granted >= quorum(m);
  }

  #tallyLost(): boolean {
    const m = this.#log.membership();
    let rejected = 0;
    for (const v of m.voters) if (this.#votes.get(v) === false) rejected++;
    return rejected > m.voters.length - quorum(m);
  }

  #handleVote(m: Message): void {
    const pre = m.type === 'pre-vote';
    const canVote =
      this.#vote === m.from || (this.#vote === null && this.#leader === null) || (pre && m.term > this.#term);
    const respType: MessageType = pre ? 'pre-vote-response' : 'vote-response';
    if (canVote && this.#log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // A granted pre-vote answers in the future term, so the pre-candidate does not drop it as stale.
      this.#send({ type: respType, to: m.from, term: m.term, reject: false });
      if (!pre) {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send({ type: respType, to: m.from, reject: true });
    }
  }

  #stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'commit':
      case 'snapshot':
        // A leader of our term exists: it won.
        this.#becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        return;
      case 'pre-vote-response':
      case 'vote-response': {
        const mine = this.#role === 'pre-candidate' ? 'pre-vote-response' : 'vote-response';
        if (m.type !== mine) return;
        if (mine === 'pre-vote-response' && !m.reject && m.term !== this.#term + 1) return;
        this.#votes.set(m.from, !m.reject);
        if (this.#tallyWon()) {
          if (this.#role === 'pre-candidate') this.#hup(true);
          else this.#becomeLeader();
        } else if (this.#tallyLost()) {
          this.#becomeFollower(this.#term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleHeartbeat(m);
        return;
      case 'commit':
        // Like a heartbeat's commit (min of the leader's commit and our known match), unanswered.
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#log.commitTo(m.commit ?? 0);
        return;
      case 'snapshot':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleSnapshot(m);
        return;
      case 'timeout-now':
        this.#hup(true);
        return;
      case 'read-index-response':
        if (m.context && m.index !== undefined) this.#readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower side of replication

  #handleAppend(m: Message): void {
    const log = this.#log;
    const prev = m.index ?? 0;
    // Members are authenticated but may be buggy: a malformed append never reaches the log.
    let want = prev + 1;
    let lastTerm = m.logTerm ?? 0;
    for (const e of m.entries ?? []) {
      if (e.index !== want++ || e.term < lastTerm || e.term > m.term) return;
      lastTerm = e.term;
    }
    if (prev < log.committed) {
      this.#send({ type: 'append-response', to: m.from, index: log.committed });
      return;
    }
    const ents = m.entries ?? [];
    const lastNew = log.maybeAppend(prev, m.logTerm ?? 0, ents);
    if (lastNew !== null) {
      log.commitTo(Math.min(m.commit ?? 0, lastNew));
      this.#send({ type: 'append-response', to: m.from, index: lastNew });
      return;
    }
    // Point the leader past a whole conflicting term at once instead of one index per round trip.
    const hint = log.findConflictByTerm(Math.min(prev, log.lastIndex()), m.logTerm ?? 0);
    this.#send({
      type: 'append-response',
      to: m.from,
      reject: true,
      index: prev,
      rejectHint: hint,
      hintTerm: log.term(hint)!,
    });
  }

  #handleHeartbeat(m: Message): void {
    // The leader sends min(its commit, what it knows we match), so this never exceeds our log
    // unless the log was lost: then commitTo refuses loudly.
    this.#log.commitTo(m.commit ?? 0);
    this.#send({ type: 'heartbeat-response', to: m.from, ...(m.context ? { context: m.context } : {}) });
  }

  #handleSnapshot(m: Message): void {
    const log = this.#log;
    const s = m.snapshot;
    if (!s) return;
    const { index, term } = s.metadata;
    if (index <= log.committed) {
      this.#send({ type: 'snapshot-response', to: m.from, index: log.committed });
      return;
    }
    if (log.matchTerm(index, term)) {
      // We already hold that prefix: just learn it is committed.
      log.commitTo(index);
    } else {
      log.restore(s);
    }
    this.#send({ type: 'snapshot-response', to: m.from, index: log.committed });
  }

  // ---------------------------------------------------------------- leader

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#electionTicks) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum) {
        if (!this.#quorumActive()) {
          this.#becomeFollower(this.#term, null);
          return;
        }
        for (const [id, pr] of this.#progress) if (id !== this.#id) pr.recentActive = false;
      }
      this.#transferee = null; // not finished within an election timeout: give up
    }
    for (const [id, pr] of this.#progress) {
      // A snapshot (or its answer) may have been lost: after a while, probe again.
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= 2 * this.#electionTicks) {
        pr.becomeProbe();
        this.#sendAppend(id);
      }
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat(this.#reads[this.#reads.length - 1]?.context);
    }
  }

  #quorumActive(): boolean {
    const m = this.#log.membership();
    let active = 0;
    for (const v of m.voters) {
      if (v === this.#id || this.#progress.get(v)?.recentActive) active++;
    }
    return active >= quorum(m);
  }

  #propose(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.#role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.#leader };
    if (this.#transferee !== null) return { ok: false, reason: 'transferring' };
    const e = this.#appendNew([{ type, data }])!;
    return { ok: true, index: e.index, term: e.term };
  }

  /** Leader: appends new entries of its term and schedules their replication. Returns the last. */
  #appendNew(items: readonly { type: EntryType; data: Uint8Array }[]): Entry | undefined {
    const log = this.#log;
    let index = log.lastIndex();
    const ents: Entry[] = items.map((x) => ({
      term: this.#term,
      index: ++index,
      type: x.type,
      data: x.data,
    }));
    const before = log.membership();
    log.append(ents);
    if (log.membership() !== before) this.#applyMembership();
    const self = this.#progress.get(this.#id);
    self?.maybeUpdate(log.lastIndex());
    this.#broadcastDue = true;
    this.#maybeCommit();
    return ents[ents.length - 1];
  }

  /** The leader's log gained a membership change: track new members, forget removed ones. */
  #applyMembership(): void {
    const m = this.#log.membership();
    for (const id of [...m.voters, ...m.learners]) {
      if (!this.#progress.has(id)) {
        const pr = new Progress(this.#log.lastIndex(), this.#maxInflight);
        this.#progress.set(id, pr);
      }
    }
    for (const id of [...this.#progress.keys()]) {
      if (!isMember(m, id)) this.#progress.delete(id);
    }
    if (this.#transferee !== null && !isVoter(m, this.#transferee)) this.#transferee = null;
  }

  #flushBroadcast(): void {
    if (this.#readRoundDue) {
      this.#readRoundDue = false;
      if (this.#role === 'leader') this.#broadcastHeartbeat(this.#reads[this.#reads.length - 1]?.context);
    }
    if (!this.#broadcastDue) return;
    this.#broadcastDue = false;
    if (this.#role !== 'leader') return;
    const commitAdvanced = this.#log.committed > this.#commitBroadcast;
    this.#commitBroadcast = this.#log.committed;
    for (const [id, pr] of this.#progress) {
      if (id === this.#id) continue;
      // New entries carry the commit index with them; more fill the pipeline.
      if (this.#sendAppend(id, false)) {
        while (this.#sendAppend(id, false));
        continue;
      }
      // Nothing new for it: only the commit index to tell. A member in replicate state gets a
      // one-way notice (its answer to an empty append would tell us nothing: a round of messages
      // saved per commit); any other gets the empty append, which also probes where it stands.
      if (pr.state === 'replicate') {
        if (commitAdvanced)
          this.#send({ type: 'commit', to: id, commit: Math.min(pr.match, this.#log.committed) });
      } else {
        this.#sendAppend(id);
      }
    }
  }

  #broadcastHeartbeat(context: Uint8Array | undefined): void {
    for (const [id, pr] of this.#progress) {
      if (id === this.#id) continue;
      this.#send({
        type: 'heartbeat',
        to: id,
        commit: Math.min(pr.match, this.#log.committed),
        ...(context ? { context } : {}),
      });
    }
  }

  /** Sends what `to` is missing (or an empty append carrying the commit). False if nothing was sent. */
  #sendAppend(to: MemberId, sendIfEmpty = true): boolean {
    const pr = this.#progress.get(to);
    if (!pr || to === this.#id || pr.isPaused()) return false;
    const log = this.#log;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    const ents = log.slice(pr.next, pr.next + this.#maxEntries);
    if (prevTerm === undefined || ents === undefined) return this.#sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: 'append',
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: log.committed,
    });
    pr.sentAppend(prevIndex + ents.length, ents.length);
    return true;
  }

  #sendSnapshot(to: MemberId, pr: Progress): boolean {
    // Snapshots are large: not to a member we have not heard from lately.
    if (!pr.recentActive) return false;
    const s = this.#log.snapshot;
    this.#send({ type: 'snapshot', to, snapshot: s });
    pr.becomeSnapshot(s.metadata.index);
    return true;
  }

  #maybeCommit(): boolean {
    const m = this.#log.membership();
    // Our own log counts only as far as it is durable: the runner may send appends before it has
    // persisted them (send-before-persist.ts), so an entry we hold only in memory must not commit.
    const matches = m.voters
      .map((v) => {
        const match = this.#progress.get(v)?.match ?? 0;
        return v === this.#id ? Math.min(match, this.#log.stable) : match;
      })
      .sort((a, b) => b - a);
    const mci = matches[quorum(m) - 1] ?? 0;
    // Only an entry of the current term is committed by counting replicas (§5.4.2); earlier
    // entries are committed with it, never on their own.
    if (mci <= this.#log.committed || this.#log.term(mci) !== this.#term) return false;
    const firstInTerm = this.#log.term(this.#log.committed) !== this.#term;
    this.#log.commitTo(mci);
    this.#broadcastDue = true;
    if (firstInTerm) {
      const waiting = this.#readsWaiting;
      this.#readsWaiting = [];
      for (const r of waiting) this.#handleReadIndex(r.from, r.context);
    }
    if (!isVoter(m, this.#id) && this.#log.lastConfIndex() <= mci) this.#stepDownRemoved();
    return true;
  }

  /** Our own removal is committed: hand over to the most caught-up voter and stop leading. */
  #stepDownRemoved(): void {
    this.#flushBroadcast(); // let the others learn the commit of the change
    const last = this.#log.lastIndex();
    const heir = this.#log.membership().voters.find((v) => this.#progress.get(v)?.match === last);
    if (heir) this.#send({ type: 'timeout-now', to: heir });
    this.#becomeFollower(this.#term, null);
  }

  #stepLeader(m: Message): void {
    const pr = this.#progress.get(m.from);
    switch (m.type) {
      case 'append-response':
        if (pr) this.#handleAppendResponse(m, pr);
        return;
      case 'snapshot-response':
        if (!pr) return;
        pr.recentActive = true;
        if (m.reject) {
          if (pr.state === 'snapshot') pr.becomeProbe();
          this.#sendAppend(m.from);
        } else {
          this.#handleAppendResponse(m, pr);
        }
        return;
      case 'heartbeat-response':
        if (pr) this.#handleHeartbeatResponse(m, pr);
        return;
      case 'read-index':
        if (m.context) this.#handleReadIndex(m.from, m.context);
        return;
      default:
        return;
    }
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.index === undefined) return; // only a term notice, and the term was ours
    if (m.reject) {
      const hint =
        m.rejectHint !== undefined && m.hintTerm !== undefined
          ? this.#log.findConflictByTerm(m.rejectHint, m.hintTerm)
          : m.index - 1;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.freeTo(m.index);
    if (!this.#maybeCommit() && wasPaused) this.#sendAppend(m.from);
    if (this.#role !== 'leader') return; // stepped down: we were removed
    while (this.#sendAppend(m.from, false)) {
      // keep the pipeline full
    }
    if (m.from === this.#transferee && pr.match === this.#log.lastIndex()) {
      this.#send({ type: 'timeout-now', to: m.from });
    }
  }

  #handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate') pr.freeFirst();
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from);
    if (!m.context || this.#reads.length === 0) return;
    const key = hex(m.context);
    const at = this.#reads.findIndex((r) => r.key === key);
    if (at < 0) return;
    const req = this.#reads[at]!;
    req.acks.add(m.from);
    const mem = this.#log.membership();
    let acks = 0;
    for (const v of mem.voters) if (req.acks.has(v)) acks++;
    if (acks < quorum(mem)) return;
    // A quorum still followed us after every earlier request was made: all of them are confirmed.
    for (const r of this.#reads.splice(0, at + 1)) this.#answerRead(r.from, r.index, r.context);
  }

  #handleReadIndex(from: MemberId | null, context: Uint8Array): void {
    const log = this.#log;
    // Until an entry of our term is committed, our commit index may trail the previous leader's.
    if (log.term(log.committed) !== this.#term) {
      this.#readsWaiting.push({ from, context });
      return;
    }
    const m = log.membership();
    if (m.voters.length === 1 && m.voters[0] === this.#id) {
      this.#answerRead(from, log.committed, context);
      return;
    }
    const acks = new Set<MemberId>();
    if (isVoter(m, this.#id)) acks.add(this.#id);
    this.#reads.push({ key: hex(context), index: log.committed, context, from, acks });
    this.#readRoundDue = true;
  }

  #answerRead(from: MemberId | null, index: number, context: Uint8Array): void {
    if (from === null) this.#readStates.push({ index, context });
    else this.#send({ type: 'read-index-response', to: from, index, context });
  }

  #send(m: Omit<Message, 'from' | 'term'> & { term?: number }): void {
    this.#msgs.push({ ...m, from: this.#id, term: m.term ?? this.#term });
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(
  a: { leader: MemberId | null; role: Role },
  b: { leader: MemberId | null; role: Role },
): boolean {
  return a.leader === b.leader && a.role === b.role;
}
