// RaftNode: runs one member. It owns the clock (a tick timer), the disk (RaftStorage), the network
// (HttpTransport) and the state machine, and drives the deterministic RaftCore with them:
//
//   loop while the core has a Ready:
//     0. a leader sends its appends and heartbeats at once (send-before-persist.ts)
//     1. persist hard state, entries, snapshot (fsync)      — before anything that depends on them
//     2. send the other messages
//     3. restore a received snapshot, apply committed entries in order, answer proposals and reads
//        (committed entries already durable here are applied during step 1's fsync)
//     4. advance
//
// Only one pass runs at a time. Proposals, ticks and peer messages arriving while a pass waits on
// the disk go into the core and come out together in the next Ready: that is the batching that
// turns many concurrent proposals into one fsync and one append round trip.

import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { type RaftConfig, RaftCore, type RaftStatus } from '../core.ts';
import { splitMessages } from '../send-before-persist.ts';
import { RaftStorage } from '../storage/storage.ts';
import { HttpTransport, type HttpTransportOptions } from '../transport/http-transport.ts';
import type {
  Authenticator,
  ConfChange,
  Entry,
  MemberId,
  Membership,
  Ready,
  Role,
  StateMachine,
} from '../types.ts';
import { NotLeaderError, ProposalDroppedError, RaftTimeoutError } from './errors.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RaftMetrics } from './metrics.ts';

export interface RaftNodeOptions {
  readonly id: MemberId;
  /** Base URL of every configured member, this one included (its URL is what NotLeader reports). */
  readonly peers: ReadonlyMap<MemberId, string>;
  readonly dataDir: string;
  readonly stateMachine: StateMachine;
  readonly authenticator: Authenticator;
  readonly registry: Registry;
  /** Membership when the data directory is new; a member joining a running fleet passes empty lists. */
  readonly bootstrap: Membership;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Take a state-machine snapshot and compact the log every this many applied entries. */
  readonly snapshotEntries?: number;
  readonly proposalTimeoutMs?: number;
  readonly random?: () => number;
  readonly logger?: Logger;
  readonly core?: Partial<
    Pick<RaftConfig, 'maxEntriesPerAppend' | 'maxInflightAppends' | 'checkQuorum' | 'preVote'>
  >;
  readonly transport?: Partial<
    Pick<
      HttpTransportOptions,
      'limits' | 'maxBatchBytes' | 'maxQueuedMessages' | 'requestTimeoutMs' | 'snapshotTimeoutMs'
    >
  >;
  /** See HttpTransportOptions.onUnknownSender: how a joining member learns of a leader it was not configured with. */
  readonly onUnknownSender?: (from: MemberId) => void;
  /** Called once if the node stops on an unrecoverable error (e.g. a failed fsync). */
  readonly onFatal?: (error: Error) => void;
  readonly segmentBytes?: number;
}

interface PendingProposal {
  readonly term: number;
  readonly started: number;
  readonly resolve: (result: Uint8Array) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingRead {
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface AppliedWaiter {
  readonly index: number;
  readonly resolve: () => void;
}

export interface NodeStatus extends RaftStatus {
  readonly leaderUrl: string | null;
  readonly snapshotIndex: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class RaftNode {
  readonly id: MemberId;
  readonly metrics: RaftMetrics;
  readonly transport: HttpTransport;

  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly sm: StateMachine;
  private readonly log: Logger;
  private readonly peerUrls: Map<MemberId, string>;
  private readonly snapshotEntries: number;
  private readonly proposalTimeoutMs: number;
  private readonly onFatal: ((e: Error) => void) | undefined;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private appliedWaiters: AppliedWaiter[] = [];
  private readonly ticker: NodeJS.Timeout;
  private applied: number;
  /** Last log index durably written by this member. */
  private stableIndex: number;
  private snapshotIndex: number;
  private leader: MemberId | null = null;
  private role: Role = 'follower';
  private membership: Membership;
  private driving: Promise<void> | undefined;
  /** A snapshot being encoded or written in the background (maybeSnapshot, compactToEncoded). */
  private snapshotting: Promise<void> | undefined;
  /** A snapshot the state machine has encoded, for the loop to compact the log to. */
  private encoded: { index: number; data: Uint8Array } | undefined;
  private again = false;
  private scheduled = false;
  private stopped = false;

  private constructor(
    options: RaftNodeOptions,
    storage: RaftStorage,
    core: RaftCore,
    metrics: RaftMetrics,
    applied: number,
    stableIndex: number,
    membership: Membership,
  ) {
    this.id = options.id;
    this.sm = options.stateMachine;
    this.log = options.logger ?? silentLogger;
    this.storage = storage;
    this.core = core;
    this.metrics = metrics;
    this.peerUrls = new Map(options.peers);
    this.snapshotEntries = options.snapshotEntries ?? 10_000;
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? 5000;
    this.onFatal = options.onFatal;
    this.applied = applied;
    this.stableIndex = stableIndex;
    this.snapshotIndex = applied;
    this.membership = membership;
    this.transport = new HttpTransport({
      ...options.transport,
      id: options.id,
      peers: options.peers,
      authenticator: options.authenticator,
      deliver: (msgs) => {
        if (this.stopped) return;
        for (const m of msgs) this.core.step(m);
        this.schedule();
      },
      onDrop: (reason, n) => metrics.dropped(reason, n),
      onUnknownSender: options.onUnknownSender,
    });
    this.ticker = setInterval(() => {
      this.core.tick();
      this.schedule();
    }, options.tickMs ?? 100);
  }

  /** Recovers the member's state from `dataDir` (or creates it) and starts ticking. */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const log = options.logger ?? silentLogger;
    const metrics = new RaftMetrics(options.registry);
    const { storage, state } = await RaftStorage.open(options.dataDir, {
      segmentBytes: options.segmentBytes,
      observeFsync: (s) => metrics.fsyncDuration.observe(s),
      observeAppend: (s) => metrics.appendDuration.observe(s),
    });
    for (const t of state.torn) {
      metrics.tornRecords.inc();
      log('warn', 'cut a torn write off the end of the Raft log (never acknowledged)', { ...t });
    }
    if (state.snapshot) await options.stateMachine.restore(state.snapshot.data);
    const applied = state.snapshot?.metadata.index ?? 0;
    const core = new RaftCore({
      ...options.core,
      id: options.id,
      electionTicks: options.electionTicks ?? 10,
      heartbeatTicks: options.heartbeatTicks ?? 1,
      random: options.random ?? Math.random,
      initial: {
        hardState: state.hardState,
        entries: state.entries,
        ...(state.snapshot ? { snapshot: state.snapshot } : {}),
        membership: state.snapshot?.metadata.membership ?? options.bootstrap,
        applied,
      },
    });
    const status = core.status();
    log('info', 'raft member started', {
      id: options.id,
      term: status.term,
      commit: status.commit,
      lastIndex: status.lastIndex,
      snapshotIndex: applied,
    });
    metrics.term.set(status.term);
    metrics.commitIndex.set(status.commit);
    metrics.appliedIndex.set(applied);
    const node = new RaftNode(options, storage, core, metrics, applied, status.lastIndex, status.membership);
    node.schedule();
    return node;
  }

  // ------------------------------------------------------------------ client API

  /**
   * Proposes `data`; resolves with the state machine's result once it is committed and applied
   * here. Rejects at once with NotLeaderError on a follower, or ProposalDroppedError; rejects with
   * RaftTimeoutError (outcome unknown) after `timeoutMs`.
   */
  propose(data: Uint8Array, timeoutMs = this.proposalTimeoutMs): Promise<Uint8Array> {
    return this.track(this.core.propose(data), timeoutMs);
  }

  private track(r: ReturnType<RaftCore['propose']>, timeoutMs: number): Promise<Uint8Array> {
    if (this.stopped) return Promise.reject(new ProposalDroppedError('stopped'));
    if (!r.ok) {
      this.metrics.proposalsFailed.inc({ reason: r.reason });
      if (r.reason === 'not-leader') return Promise.reject(this.notLeader(r.leader));
      return Promise.reject(new ProposalDroppedError(r.reason, r.detail));
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.proposals.get(r.index)?.timer === timer) this.proposals.delete(r.index);
        this.metrics.proposalsFailed.inc({ reason: 'timeout' });
        reject(new RaftTimeoutError('proposal', timeoutMs));
      }, timeoutMs);
      // An older proposal at this index (from an earlier term of ours) can no longer commit.
      const stale = this.proposals.get(r.index);
      if (stale) {
        clearTimeout(stale.timer);
        this.metrics.proposalsFailed.inc({ reason: 'overwritten' });
        stale.reject(new ProposalDroppedError('overwritten', `index ${r.index} reused in term ${r.term}`));
      }
      this.proposals.set(r.index, { term: r.term, started: performance.now(), resolve, reject, timer });
    });
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves with an index once this member has applied
   * everything committed before the call, as confirmed by a quorum in the leader's term. Read the
   * state machine after it resolves.
   */
  readIndex(timeoutMs = this.proposalTimeoutMs): Promise<number> {
    if (this.stopped) return Promise.reject(new ProposalDroppedError('stopped'));
    const st = this.core.status();
    if (st.leader === null) return Promise.reject(this.notLeader(null));
    const context = randomBytes(16);
    const key = hex(context);
    const read = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(key);
        reject(new RaftTimeoutError('read', timeoutMs));
      }, timeoutMs);
      this.reads.set(key, { resolve, reject, timer });
    });
    this.core.readIndex(context);
    this.schedule();
    return read.then((index) => this.waitApplied(index).then(() => index));
  }

  /** Asks the leader (this member) to hand leadership to `to`; resolves when `to` leads. */
  async transferLeadership(to: MemberId, timeoutMs = 5000): Promise<void> {
    if (this.role !== 'leader') throw this.notLeader(this.leader);
    this.core.transferLeadership(to);
    this.schedule();
    await this.waitFor(() => this.leader === to, timeoutMs, 'leadership transfer');
  }

  /** Adds `member` (reachable at `url`) as a learner: it receives the log but does not vote. */
  addLearner(member: MemberId, url: string, timeoutMs?: number): Promise<void> {
    this.setPeerUrl(member, url);
    return this.changeMembership({ kind: 'add-learner', member }, timeoutMs);
  }

  /**
   * Promotes a learner to voter once it has caught up (its log matches up to the commit index as
   * of the call), so adding it never stalls commits on a member still copying the log.
   */
  async promote(member: MemberId, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const target = this.core.status().commit;
    await this.waitFor(
      () => {
        const st = this.core.status();
        if (st.role !== 'leader') throw this.notLeader(st.leader);
        return (st.progress?.[member]?.match ?? 0) >= target;
      },
      timeoutMs,
      `catch-up of ${member}`,
    );
    await this.changeMembership({ kind: 'promote', member }, Math.max(1, deadline - Date.now()));
  }

  remove(member: MemberId, timeoutMs?: number): Promise<void> {
    return this.changeMembership({ kind: 'remove', member }, timeoutMs);
  }

  private async changeMembership(cc: ConfChange, timeoutMs = this.proposalTimeoutMs): Promise<void> {
    await this.track(this.core.proposeConfChange(cc), timeoutMs);
    this.log('info', 'membership change committed', { kind: cc.kind, member: cc.member });
  }

  setPeerUrl(member: MemberId, url: string): void {
    this.peerUrls.set(member, url);
    this.transport.setPeer(member, url);
  }

  status(): NodeStatus {
    const st = this.core.status();
    return {
      ...st,
      applied: this.applied,
      leaderUrl: st.leader ? (this.peerUrls.get(st.leader) ?? null) : null,
      snapshotIndex: this.snapshotIndex,
    };
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  /** Stops ticking and talking, finishes the Ready in progress, closes the log. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.transport.close();
    await this.driving;
    await this.snapshotting;
    this.failPending(new ProposalDroppedError('stopped'));
    await this.storage.close();
  }

  // ------------------------------------------------------------------ the Ready loop

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drive();
    });
  }

  private drive(): void {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = this.loop()
      .catch((e: unknown) => this.fatal(e instanceof Error ? e : new Error(String(e))))
      .finally(() => {
        this.driving = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async loop(): Promise<void> {
    for (;;) {
      // Between Readies: the core's log is compacted only here, never while a Ready is handled.
      this.compactToEncoded();
      if (this.stopped || !this.core.hasReady()) return;
      const rd = this.core.ready();
      await this.handle(rd);
      this.core.advance(rd);
      this.maybeSnapshot();
    }
  }

  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    // Committed entries this member already holds durably (from earlier Readies) are applied while
    // this Ready's own writes reach the disk: they are on a quorum's disks and in ours, and waiting
    // would add an fsync to every commit under load. The rest are applied after the write.
    let early = 0;
    if (!rd.snapshot) {
      while (early < rd.committedEntries.length && rd.committedEntries[early]!.index <= this.stableIndex)
        early++;
    }
    // A leader's appends and heartbeats go out while it writes the same entries (the core counts
    // its own log toward a commit only once durable): the followers' writes overlap ours.
    const { beforePersist, afterPersist } = splitMessages(rd, this.storage.durableTermAndVote);
    if (!this.stopped && beforePersist.length > 0) this.transport.send(beforePersist);
    // A snapshot from the leader is not written while our own is (both replace snapshot files).
    if (rd.snapshot) await this.snapshotting;
    // 1. Durable before anything else that depends on it leaves this process.
    const persisted = this.storage.persist(rd);
    try {
      for (let i = 0; i < early; i++) await this.apply(rd.committedEntries[i]!);
    } finally {
      await persisted;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (rd.snapshot) this.stableIndex = rd.snapshot.metadata.index;
    if (last) this.stableIndex = last.index;
    if (rd.hardState) {
      this.metrics.term.set(rd.hardState.term);
      this.metrics.commitIndex.set(rd.hardState.commit);
    }
    // 2. Send.
    if (!this.stopped) this.transport.send(afterPersist);
    // 3. Apply.
    if (rd.snapshot) await this.installSnapshot(rd.snapshot.metadata.index, rd.snapshot.data);
    for (let i = early; i < rd.committedEntries.length; i++) await this.apply(rd.committedEntries[i]!);
    for (const rs of rd.readStates) {
      const key = hex(rs.context);
      const p = this.reads.get(key);
      if (!p) continue;
      this.reads.delete(key);
      clearTimeout(p.timer);
      p.resolve(rs.index);
    }
    if (rd.membership) this.onMembership(rd.membership);
  }

  private async apply(e: Entry): Promise<void> {
    if (e.index <= this.applied) return;
    const result = e.type === 'normal' ? await this.sm.apply(e) : new Uint8Array(0);
    this.applied = e.index;
    this.metrics.appliedIndex.set(e.index);
    const p = this.proposals.get(e.index);
    if (p) {
      this.proposals.delete(e.index);
      clearTimeout(p.timer);
      if (p.term === e.term) {
        this.metrics.proposalsCommitted.inc();
        this.metrics.commitDuration.observe((performance.now() - p.started) / 1000);
        p.resolve(result);
      } else {
        this.metrics.proposalsFailed.inc({ reason: 'overwritten' });
        p.reject(new ProposalDroppedError('overwritten', `index ${e.index} committed from term ${e.term}`));
      }
    }
    this.releaseApplied();
  }

  private async installSnapshot(index: number, data: Uint8Array): Promise<void> {
    await this.sm.restore(data);
    this.metrics.snapshotsInstalled.inc();
    this.log('info', 'installed a snapshot from the leader', { index });
    // Proposals the snapshot covers may or may not be in it: their outcome is unknown here.
    for (const [i, p] of this.proposals) {
      if (i > index) continue;
      this.proposals.delete(i);
      clearTimeout(p.timer);
      this.metrics.proposalsFailed.inc({ reason: 'timeout' });
      p.reject(new RaftTimeoutError('proposal', 0, `was overtaken by a snapshot at ${index}`));
    }
    this.applied = index;
    this.snapshotIndex = index;
    this.metrics.appliedIndex.set(index);
    this.releaseApplied();
  }

  /**
   * Every snapshotEntries applied entries: has the state machine capture its state as of now and
   * encode it in the background (snapshotInSlices when it has it), while the loop goes on.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.encoded || this.applied - this.snapshotIndex < this.snapshotEntries) return;
    const index = this.applied;
    const data = this.sm.snapshotInSlices ? this.sm.snapshotInSlices() : this.sm.snapshot();
    this.inBackground(
      Promise.resolve(data).then((d) => {
        this.encoded = { index, data: d };
      }),
    );
  }

  /** Compacts the core's log to an encoded snapshot and writes it to disk in the background. */
  private compactToEncoded(): void {
    const e = this.encoded;
    if (!e || this.snapshotting) return;
    this.encoded = undefined;
    if (e.index <= this.snapshotIndex) return; // a snapshot from the leader overtook it
    const snapshot = this.core.compact(e.index, e.data);
    this.snapshotIndex = e.index; // the core's log now starts there
    // Written while the loop goes on: a snapshot file and its fsyncs held up every proposal for as
    // long as they took (a p99 spike every snapshotEntries commits). The log keeps every entry the
    // snapshot covers until the file is durable (storage compacts only after), so a crash
    // meanwhile recovers from the log; the core already serves the snapshot from memory.
    this.inBackground(
      this.storage
        .saveSnapshot(snapshot)
        .then(() => this.log('info', 'took a snapshot and compacted the log', { index: e.index })),
    );
  }

  /** Runs one snapshot step in the background; the loop looks again when it is done. */
  private inBackground(work: Promise<void>): void {
    const running: Promise<void> = work
      .catch((err: unknown) => this.fatal(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        if (this.snapshotting === running) this.snapshotting = undefined;
        this.schedule();
      });
    this.snapshotting = running;
  }

  private onSoftState(leader: MemberId | null, role: Role): void {
    if (leader !== this.leader) {
      this.metrics.leaderChanges.inc();
      this.log('info', 'leader changed', { leader, role });
    }
    this.leader = leader;
    this.role = role;
    this.metrics.isLeader.set(role === 'leader' ? 1 : 0);
  }

  private onMembership(m: Membership): void {
    const was = this.membership;
    this.membership = m;
    for (const id of [...was.voters, ...was.learners]) {
      if (!m.voters.includes(id) && !m.learners.includes(id)) this.transport.removePeer(id);
    }
    for (const id of [...m.voters, ...m.learners]) {
      if (id !== this.id && !this.peerUrls.has(id)) {
        this.log('warn', 'member has no configured URL; it cannot be reached until one is set', {
          member: id,
        });
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private notLeader(leader: MemberId | null): NotLeaderError {
    return new NotLeaderError(leader, leader ? (this.peerUrls.get(leader) ?? null) : null);
  }

  private waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private releaseApplied(): void {
    if (this.appliedWaiters.length === 0) return;
    const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
    for (const w of ready) w.resolve();
  }

  /** Polls `cond` until it holds, throws, the node stops, or `timeoutMs` passes. */
  private waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        try {
          if (cond()) return resolve();
        } catch (e) {
          return reject(e);
        }
        if (this.stopped) return reject(new ProposalDroppedError('stopped'));
        if (Date.now() >= deadline) return reject(new RaftTimeoutError(what, timeoutMs));
        setTimeout(check, 20);
      };
      check();
    });
  }

  private failPending(e: Error): void {
    for (const p of this.proposals.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.proposals.clear();
    for (const r of this.reads.values()) {
      clearTimeout(r.timer);
      r.reject(e);
    }
    this.reads.clear();
  }

  private fatal(e: Error): void {
    if (this.stopped) return;
    this.log('error', 'raft member stopping on an unrecoverable error', { error: e.message });
    this.stopped = true;
    clearInterval(this.ticker);
    this.transport.close();
    this.failPending(new ProposalDroppedError('stopped', e.message));
    this.onFatal?.(e);
  }
}
