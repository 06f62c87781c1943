// A deterministic simulation of a fleet of RaftCore members: one seeded PRNG drives message
// delay, loss, duplication and reordering, partitions (symmetric and one-way), crashes that may
// tear the unsynced tail of the Ready being written, restarts from what was persisted, membership
// changes and leadership transfers, while clients increment and read a replicated counter.
//
// Each member works like the real runner: take a Ready, write it (taking simulated time, during
// which peer messages keep arriving and are stepped), then fsync, send, apply, advance. A crash
// before the fsync keeps a random prefix of the write: [snapshot, entries..., hard state].
//
// The invariants are checked as the run goes (invariants.ts); the client history is checked for
// linearizability at the end, after the faults stop and the fleet must make progress again.

import { RaftCore } from '../core.ts';
import { splitMessages } from '../send-before-persist.ts';
import { type Persisted, persistReady, seededRandom } from '../testing.ts';
import type { Entry, MemberId, Membership, Message, Ready } from '../types.ts';
import { Invariants } from './invariants.ts';
import { type CounterOp, checkCounterHistory } from './linearizability.ts';

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** An independent stream, for a member's core. */
  fork(): () => number {
    return seededRandom(Math.floor(this.next() * 2 ** 32));
  }
}

export interface Scenario {
  seed: number;
  members: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  maxEntriesPerAppend: number;
  maxInflightAppends: number;
  loss: number;
  duplicate: number;
  maxDelayMs: number;
  /** Chance of a message taking up to 20 election timeouts (reordering far past later ones). */
  longDelay: number;
  maxPersistMs: number;
  faultEveryMs: number;
  partitions: boolean;
  crashes: boolean;
  tornWrites: boolean;
  membership: boolean;
  transfers: boolean;
  compactEvery: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Chance that a new leader is crashed or cut off within a few ms of winning. */
  leaderChurn: number;
  clients: number;
  durationMs: number;
  /** After the faults stop: how long the fleet has to commit a write and converge. */
  settleMs: number;
}

export function scenarioFor(seed: number): Scenario {
  const r = new Rng(seed ^ 0x5eed);
  return {
    seed,
    members: r.pick([3, 5, 7]),
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: r.pick([1, 1, 2]),
    maxEntriesPerAppend: r.pick([1, 3, 64]),
    maxInflightAppends: r.pick([1, 4, 64]),
    loss: r.pick([0, 0.01, 0.05, 0.15]),
    duplicate: r.pick([0, 0.02, 0.1]),
    maxDelayMs: r.pick([2, 8, 25]),
    longDelay: r.pick([0, 0.005, 0.02]),
    maxPersistMs: r.pick([0, 2, 6]),
    faultEveryMs: r.pick([30, 80, 200]) + r.int(0, 100),
    partitions: r.chance(0.8),
    crashes: r.chance(0.8),
    tornWrites: r.chance(0.7),
    membership: r.chance(0.6),
    transfers: r.chance(0.5),
    compactEvery: r.pick([4, 16, 1000]),
    preVote: r.chance(0.8),
    checkQuorum: r.chance(0.8),
    leaderChurn: r.pick([0, 0, 0.3, 0.7]),
    clients: r.int(2, 4),
    durationMs: r.int(1500, 3000),
    settleMs: 6000,
  };
}

export interface SimStats {
  events: number;
  messages: number;
  leaders: number;
  maxTerm: number;
  crashes: number;
  tornWrites: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  ops: number;
  acked: number;
  unknown: number;
}

export type SimResult =
  | { ok: true; stats: SimStats; trace: string[] }
  | { ok: false; error: string; stats: SimStats; trace: string[] };

interface IncWaiter {
  index: number;
  term: number;
  op: number;
}

interface ReadWaiter {
  key: string;
  index: number | null;
  op: number;
}

class Member {
  core: RaftCore | null = null;
  store: Persisted = { hardState: { term: 0, vote: null, commit: 0 }, entries: [] };
  writing: Ready | null = null;
  incarnation = 0;
  value = 0;
  applied = 0;
  incs: IncWaiter[] = [];
  reads: ReadWaiter[] = [];
  /** Crash as soon as the next Ready is taken, before its write is synced. */
  crashMidWrite = false;
  readonly id: MemberId;
  readonly bootstrap: Membership;
  constructor(id: MemberId, bootstrap: Membership) {
    this.id = id;
    this.bootstrap = bootstrap;
  }
}

interface PendingOp {
  kind: 'inc' | 'read';
  client: number;
  call: number;
  ret: number | null;
  value: number | null;
  /** inc: known never to take effect (its entry was replaced), so it is left out of the history. */
  failed: boolean;
  done: boolean;
  data: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Simulation {
  readonly sc: Scenario;
  private readonly rng: Rng;
  private now = 0;
  private seq = 0;
  private queue: { t: number; s: number; fn: () => void }[] = [];
  private readonly members = new Map<MemberId, Member>();
  private nextMemberNo: number;
  private readonly cut = new Set<string>();
  private partitioned = false;
  private readonly ops: PendingOp[] = [];
  private clock = 0; // history clock: one tick per call or return
  private readonly inv = new Invariants();
  private readonly leaderCommit = new Map<MemberId, number>();
  private churnedTerm = 0;
  private readonly trace: string[] = [];
  private readonly tracing: boolean;
  private faultsOn = true;
  private clientsOn = true;
  private leaderGuess: MemberId;
  readonly stats: SimStats = {
    events: 0,
    messages: 0,
    leaders: 0,
    maxTerm: 0,
    crashes: 0,
    tornWrites: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
    ops: 0,
    acked: 0,
    unknown: 0,
  };

  constructor(sc: Scenario, tracing = false) {
    this.sc = sc;
    this.rng = new Rng(sc.seed);
    this.tracing = tracing;
    const voters = Array.from({ length: sc.members }, (_, i) => `n${i + 1}`);
    this.nextMemberNo = sc.members + 1;
    this.leaderGuess = voters[0]!;
    for (const id of voters) this.addMember(id, { voters, learners: [] });
  }

  /** Keeps every event when tracing, otherwise the recent ones a failure report shows. */
  private log(s: string): void {
    this.trace.push(`${String(this.now).padStart(6)} ${s}`);
    if (!this.tracing && this.trace.length > 400) this.trace.splice(0, 200);
  }

  private at(delay: number, fn: () => void): void {
    const e = { t: this.now + delay, s: this.seq++, fn };
    // Binary heap on (t, s).
    const q = this.queue;
    q.push(e);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const a = q[p]!;
      if (a.t < e.t || (a.t === e.t && a.s < e.s)) break;
      q[i] = a;
      i = p;
    }
    q[i] = e;
  }

  private pop(): { t: number; s: number; fn: () => void } | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const less = (x: number, y: { t: number; s: number }) =>
          q[x]!.t < y.t || (q[x]!.t === y.t && q[x]!.s < y.s);
        if (l < q.length && less(l, m === i ? last : q[m]!)) m = l;
        if (r < q.length && less(r, m === i ? last : q[m]!)) m = r;
        if (m === i) break;
        q[i] = q[m]!;
        i = m;
      }
      q[i] = last;
    }
    return top;
  }

  // ------------------------------------------------------------ members

  private addMember(id: MemberId, bootstrap: Membership): Member {
    const m = new Member(id, bootstrap);
    this.members.set(id, m);
    this.startCore(m);
    const phase = this.rng.int(0, this.sc.tickMs - 1);
    const tick = () => {
      if (m.core) {
        m.core.tick();
        this.observe(m);
        this.pump(m);
      }
      this.at(this.sc.tickMs, tick);
    };
    this.at(phase, tick);
    return m;
  }

  private startCore(m: Member): void {
    const s = m.store;
    m.core = new RaftCore({
      id: m.id,
      random: this.rng.fork(),
      electionTicks: this.sc.electionTicks,
      heartbeatTicks: this.sc.heartbeatTicks,
      maxEntriesPerAppend: this.sc.maxEntriesPerAppend,
      maxInflightAppends: this.sc.maxInflightAppends,
      preVote: this.sc.preVote,
      checkQuorum: this.sc.checkQuorum,
      initial: {
        hardState: s.hardState,
        entries: s.entries,
        membership: m.bootstrap,
        ...(s.snapshot ? { snapshot: s.snapshot } : {}),
      },
    });
    m.value = s.snapshot ? Number(dec.decode(s.snapshot.data)) : 0;
    m.applied = s.snapshot?.metadata.index ?? 0;
    this.log(
      `${m.id} start term=${s.hardState.term} vote=${s.hardState.vote} commit=${s.hardState.commit} last=${s.entries.at(-1)?.index ?? s.snapshot?.metadata.index ?? 0}`,
    );
  }

  private crash(m: Member): void {
    if (!m.core) return;
    this.stats.crashes++;
    const rd = m.writing;
    if (rd && this.sc.tornWrites) {
      // The write never reached its fsync: a prefix of its records may still be on disk.
      const n = (rd.snapshot ? 1 : 0) + rd.entries.length + (rd.hardState ? 1 : 0);
      let keep = this.rng.int(0, n);
      if (keep < n) this.stats.tornWrites++;
      const part: { hardState?: Ready['hardState']; entries: Entry[]; snapshot?: Ready['snapshot'] } = {
        entries: [],
      };
      if (rd.snapshot && keep > 0) {
        part.snapshot = rd.snapshot;
        keep--;
      }
      if (!rd.snapshot || part.snapshot) {
        part.entries = rd.entries.slice(0, Math.min(keep, rd.entries.length));
        keep -= part.entries.length;
        if (keep > 0 && rd.hardState) part.hardState = rd.hardState;
      }
      persistReady(m.store, part);
      this.log(
        `${m.id} CRASH torn write kept ${part.snapshot ? 'snap+' : ''}${part.entries.length}/${rd.entries.length} entries${part.hardState ? '+hs' : ''}`,
      );
    } else {
      this.log(`${m.id} CRASH${rd ? ' (unsynced write lost)' : ''}`);
    }
    m.core = null;
    m.writing = null;
    m.incarnation++;
    for (const w of m.incs) this.unknown(w.op);
    for (const w of m.reads) this.failed(w.op);
    m.incs = [];
    m.reads = [];
    this.at(this.rng.int(20, 600), () => this.restart(m));
  }

  private restart(m: Member): void {
    if (m.core) return;
    this.startCore(m);
    this.observe(m);
    this.pump(m);
  }

  /** Takes the member's next Ready, if it has one and is not already writing one. */
  private pump(m: Member): void {
    const core = m.core;
    if (!core || m.writing || !core.hasReady()) return;
    const rd = core.ready();
    m.writing = rd;
    if (m.crashMidWrite) {
      m.crashMidWrite = false;
      this.crash(m);
      return;
    }
    const st = core.status();
    this.inv.onReady(m.id, st, m.store, rd);
    if (this.tracing) {
      const parts = [`${m.id} ready t${st.term} ${st.role}`];
      if (rd.softState) parts.push(`soft=${rd.softState.role}/${rd.softState.leader}`);
      if (rd.hardState) parts.push(`hs=${JSON.stringify(rd.hardState)}`);
      if (rd.entries.length)
        parts.push(`ents=${rd.entries.map((e) => `${e.index}t${e.term}${e.type[0]}`).join(',')}`);
      if (rd.snapshot) parts.push(`snap@${rd.snapshot.metadata.index}`);
      if (rd.committedEntries.length)
        parts.push(`apply=${rd.committedEntries[0]!.index}..${rd.committedEntries.at(-1)!.index}`);
      if (rd.membership) parts.push(`mem=${JSON.stringify(rd.membership)}`);
      for (const x of rd.messages) {
        parts.push(
          `\n         ${x.type} ${x.from}>${x.to} t${x.term} i${x.index ?? ''} lt${x.logTerm ?? ''} c${x.commit ?? ''}${x.reject ? ' REJ' : ''}${x.entries?.length ? ` ents=${x.entries.map((e) => `${e.index}t${e.term}`).join(',')}` : ''}`,
        );
      }
      this.log(parts.join(' '));
    }
    // As the runner does: a leader's appends and heartbeats leave while its own write is pending
    // (and may be out there when the write is lost in a crash).
    const { beforePersist, afterPersist } = splitMessages(rd, m.store.hardState);
    for (const msg of beforePersist) this.send(msg);
    const inc = m.incarnation;
    const done = () => {
      if (m.incarnation !== inc || m.writing !== rd) return;
      this.complete(m, rd, afterPersist);
    };
    const d = this.rng.int(0, this.sc.maxPersistMs);
    if (d === 0) done();
    else this.at(d, done);
  }

  /** fsync done: send the rest, apply, advance. */
  private complete(m: Member, rd: Ready, afterPersist: readonly Message[]): void {
    const core = m.core!;
    persistReady(m.store, rd);
    for (const msg of afterPersist) this.send(msg);
    if (rd.snapshot) {
      m.value = Number(dec.decode(rd.snapshot.data));
      m.applied = rd.snapshot.metadata.index;
      this.inv.onRestore(m.id, rd.snapshot);
      this.log(`${m.id} restored snapshot @${m.applied} value=${m.value}`);
    }
    for (const e of rd.committedEntries) this.apply(m, e);
    for (const rs of rd.readStates) {
      const w = m.reads.find((x) => x.key === dec.decode(rs.context));
      if (w) w.index = rs.index;
    }
    this.finishReads(m);
    core.advance(rd);
    m.writing = null;
    if (m.applied - (m.store.snapshot?.metadata.index ?? 0) >= this.sc.compactEvery) {
      const s = core.compact(m.applied, enc.encode(String(m.value)));
      m.store.snapshot = s;
      m.store.entries = m.store.entries.filter((e) => e.index > s.metadata.index);
      this.inv.onRestore(m.id, s);
    }
    this.pump(m);
  }

  private apply(m: Member, e: Entry): void {
    if (e.index !== m.applied + 1) {
      throw new Error(`${m.id} applied ${e.index} after ${m.applied}: committed entries out of order`);
    }
    m.applied = e.index;
    if (e.type === 'normal') m.value++;
    this.inv.onApply(m.id, e, m.value);
    const waiting = m.incs.filter((w) => w.index === e.index);
    if (waiting.length === 0) return;
    m.incs = m.incs.filter((w) => w.index !== e.index);
    for (const w of waiting) {
      const op = this.ops[w.op]!;
      if (e.term === w.term && e.type === 'normal' && sameBytes(e.data, op.data)) this.ack(w.op, m.value);
      else this.failed(w.op);
    }
  }

  private finishReads(m: Member): void {
    for (const w of m.reads) {
      if (w.index !== null && m.applied >= w.index) this.ack(w.op, m.value);
    }
    m.reads = m.reads.filter((w) => !this.ops[w.op]!.done);
  }

  private observe(m: Member): void {
    if (!m.core) return;
    const st = m.core.status();
    this.inv.onStatus(st);
    if (st.role === 'leader' && st.term > this.churnedTerm) {
      this.churnedTerm = st.term;
      if (this.faultsOn && this.rng.chance(this.sc.leaderChurn)) {
        // Kill or isolate it before its first entries reach everyone: leaves partly replicated
        // entries of several terms around, the raw material of the Figure 8 hazard.
        const inc = m.incarnation;
        const isolate = this.rng.chance(0.3);
        this.at(this.rng.int(0, 12), () => {
          if (m.incarnation !== inc || !this.faultsOn) return;
          if (isolate) {
            for (const o of this.members.keys()) if (o !== m.id) this.cut.add(`${m.id}>${o}`);
            this.partitioned = true;
            this.log(`CHURN isolate ${m.id}`);
          } else {
            this.log(`CHURN crash ${m.id}`);
            if (this.sc.tornWrites && this.rng.chance(0.5)) m.crashMidWrite = true;
            else this.crash(m);
          }
        });
      }
    }
    if (st.role === 'leader' && st.commit > (this.leaderCommit.get(m.id) ?? 0)) {
      this.leaderCommit.set(m.id, st.commit);
      this.inv.onCommit(st, this.stores());
    }
  }

  // ------------------------------------------------------------ network

  private send(msg: Message): void {
    this.stats.messages++;
    if (msg.type === 'snapshot') this.stats.snapshotsSent++;
    if (this.rng.chance(this.sc.loss)) return;
    const copies = this.rng.chance(this.sc.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.rng.chance(this.sc.longDelay)
        ? this.rng.int(1, 20 * this.sc.electionTicks * this.sc.tickMs)
        : this.rng.int(1, this.sc.maxDelayMs);
      this.at(delay, () => this.deliver(msg));
    }
  }

  private deliver(msg: Message): void {
    if (this.cut.has(`${msg.from}>${msg.to}`)) return;
    const m = this.members.get(msg.to);
    if (!m?.core) return;
    m.core.step(msg);
    this.observe(m);
    this.pump(m);
  }

  // ------------------------------------------------------------ faults

  private leader(): Member | undefined {
    let best: Member | undefined;
    let term = -1;
    for (const m of this.members.values()) {
      const st = m.core?.status();
      if (st?.role === 'leader' && st.term > term) {
        best = m;
        term = st.term;
      }
    }
    return best;
  }

  private fault(): void {
    if (!this.faultsOn) return;
    const kinds: string[] = [];
    if (this.sc.partitions) kinds.push('partition', 'partition');
    if (this.sc.crashes) kinds.push('crash', 'crash');
    if (this.sc.membership) kinds.push('membership', 'membership');
    if (this.sc.transfers) kinds.push('transfer');
    if (kinds.length > 0) {
      const k = this.rng.pick(kinds);
      if (k === 'partition') this.partition();
      else if (k === 'crash') this.crashSome();
      else if (k === 'membership') this.changeMembership();
      else this.transfer();
    }
    this.at(this.rng.int(this.sc.faultEveryMs / 2, this.sc.faultEveryMs * 2), () => this.fault());
  }

  private partition(): void {
    if (this.partitioned) {
      this.cut.clear();
      this.partitioned = false;
      this.log('HEAL');
      return;
    }
    this.stats.partitions++;
    this.partitioned = true;
    const ids = [...this.members.keys()];
    const kind = this.rng.pick(['isolate', 'isolate-leader', 'split', 'one-way-out', 'one-way-in', 'links']);
    const cutBoth = (a: MemberId, b: MemberId) => {
      this.cut.add(`${a}>${b}`);
      this.cut.add(`${b}>${a}`);
    };
    let victim = this.rng.pick(ids);
    if (kind === 'isolate-leader') victim = this.leader()?.id ?? victim;
    switch (kind) {
      case 'isolate':
      case 'isolate-leader':
        for (const o of ids) if (o !== victim) cutBoth(victim, o);
        break;
      case 'split': {
        const shuffled = ids.map((id) => ({ id, k: this.rng.float() })).sort((a, b) => a.k - b.k);
        const n = this.rng.int(1, Math.floor(ids.length / 2));
        const side = new Set(shuffled.slice(0, n).map((x) => x.id));
        for (const a of side) for (const b of ids) if (!side.has(b)) cutBoth(a, b);
        break;
      }
      case 'one-way-out':
        for (const o of ids) if (o !== victim) this.cut.add(`${victim}>${o}`);
        break;
      case 'one-way-in':
        for (const o of ids) if (o !== victim) this.cut.add(`${o}>${victim}`);
        break;
      case 'links':
        for (const a of ids)
          for (const b of ids) if (a !== b && this.rng.chance(0.3)) this.cut.add(`${a}>${b}`);
        break;
    }
    this.log(`PARTITION ${kind} ${victim}: ${[...this.cut].join(' ')}`);
  }

  private crashSome(): void {
    const alive = [...this.members.values()].filter((m) => m.core);
    if (alive.length === 0) return;
    const l = this.leader();
    const victim = l && this.rng.chance(0.4) ? l : this.rng.pick(alive);
    if (this.sc.tornWrites && this.rng.chance(0.5)) victim.crashMidWrite = true;
    else this.crash(victim);
  }

  private changeMembership(): void {
    const l = this.leader();
    if (!l?.core) return;
    const st = l.core.status();
    const mem = st.membership;
    const caughtUp = mem.learners.find((x) => (st.progress?.[x]?.match ?? 0) >= st.commit);
    let cc: Parameters<RaftCore['proposeConfChange']>[0];
    if (caughtUp && this.rng.chance(0.8)) cc = { kind: 'promote', member: caughtUp };
    else if (mem.voters.length + mem.learners.length <= this.sc.members && this.rng.chance(0.6)) {
      const id = `n${this.nextMemberNo++}`;
      this.addMember(id, { voters: [], learners: [] });
      cc = { kind: 'add-learner', member: id };
    } else if (mem.voters.length > Math.max(2, this.sc.members - 1) || mem.learners.length > 0) {
      const pool = [...mem.voters, ...mem.learners];
      cc = { kind: 'remove', member: this.rng.chance(0.3) ? l.id : this.rng.pick(pool) };
      if (cc.member === l.id && mem.voters.length <= 2) return;
    } else return;
    const r = l.core.proposeConfChange(cc);
    this.log(`CONF ${cc.kind} ${cc.member} via ${l.id}: ${JSON.stringify(r)}`);
    if (r.ok) this.stats.confChanges++;
    this.observe(l);
    this.pump(l);
  }

  private transfer(): void {
    const l = this.leader();
    if (!l?.core) return;
    const others = l.core.status().membership.voters.filter((v) => v !== l.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    this.stats.transfers++;
    this.log(`TRANSFER ${l.id} -> ${to}`);
    l.core.transferLeadership(to);
    this.observe(l);
    this.pump(l);
  }

  // ------------------------------------------------------------ clients

  private newOp(kind: 'inc' | 'read', client: number): number {
    this.ops.push({
      kind,
      client,
      call: this.clock++,
      ret: null,
      value: null,
      failed: false,
      done: false,
      data: enc.encode(`c${client}.${this.ops.length}`),
    });
    this.stats.ops++;
    return this.ops.length - 1;
  }

  private ack(op: number, value: number): void {
    const o = this.ops[op]!;
    if (o.done) return;
    o.done = true;
    o.ret = this.clock++;
    o.value = value;
    this.stats.acked++;
    this.log(`client c${o.client} ${o.kind} #${op} -> ${value}`);
    this.nextOp(o.client);
  }

  /**
   * The operation had no effect and leaves the history: an increment no leader accepted or whose
   * entry was replaced, or a read that never answered.
   */
  private failed(op: number): void {
    const o = this.ops[op]!;
    if (o.done) return;
    o.done = true;
    o.failed = true;
    this.nextOp(o.client);
  }

  /** The outcome of an increment is unknown (crash, timeout): it may or may not have happened. */
  private unknown(op: number): void {
    const o = this.ops[op]!;
    if (o.done) return;
    o.done = true;
    this.stats.unknown++;
    this.nextOp(o.client);
  }

  private nextOp(client: number): void {
    if (!this.clientsOn) return;
    this.at(this.rng.int(0, 20), () => this.startOp(client));
  }

  private startOp(client: number): void {
    if (!this.clientsOn) return;
    const kind = this.rng.chance(0.6) ? 'inc' : 'read';
    const op = this.newOp(kind, client);
    const deadline = this.now + 40 * this.sc.tickMs;
    if (kind === 'inc') this.tryInc(op, this.leaderGuess, deadline);
    else this.tryRead(op, deadline);
  }

  private tryInc(op: number, target: MemberId, deadline: number): void {
    const o = this.ops[op]!;
    if (o.done) return;
    if (this.now >= deadline) {
      this.failed(op); // never accepted by a leader: never in any log
      return;
    }
    const m = this.members.get(target);
    const retry = (to: MemberId) => this.at(this.rng.int(2, 20), () => this.tryInc(op, to, deadline));
    if (!m?.core) {
      retry(this.rng.pick([...this.members.keys()]));
      return;
    }
    const r = m.core.propose(o.data);
    if (r.ok) {
      this.leaderGuess = m.id;
      m.incs.push({ index: r.index, term: r.term, op });
      this.observe(m);
      this.pump(m);
      const inc = m.incarnation;
      this.at(40 * this.sc.tickMs, () => {
        if (this.ops[op]!.done || m.incarnation !== inc) return;
        m.incs = m.incs.filter((w) => w.op !== op);
        this.unknown(op);
      });
    } else if (r.reason === 'not-leader' && r.leader) {
      this.leaderGuess = r.leader;
      retry(r.leader);
    } else {
      retry(this.rng.pick([...this.members.keys()]));
    }
  }

  private tryRead(op: number, deadline: number): void {
    // Half the reads go to a random member, which forwards to the leader it knows.
    const target = this.rng.chance(0.5) ? this.leaderGuess : this.rng.pick([...this.members.keys()]);
    const m = this.members.get(target);
    if (!m?.core) {
      this.failed(op);
      return;
    }
    const key = dec.decode(this.ops[op]!.data);
    m.reads.push({ key, index: null, op });
    m.core.readIndex(this.ops[op]!.data);
    this.observe(m);
    this.pump(m);
    const inc = m.incarnation;
    this.at(deadline - this.now, () => {
      if (this.ops[op]!.done || m.incarnation !== inc) return;
      m.reads = m.reads.filter((w) => w.op !== op);
      this.failed(op);
    });
  }

  // ------------------------------------------------------------ run

  private runUntil(t: number, stop?: () => boolean): void {
    for (;;) {
      const top = this.queue[0];
      if (!top || top.t > t) break;
      this.pop();
      this.now = top.t;
      this.stats.events++;
      top.fn();
      if (stop?.()) return;
    }
    this.now = Math.max(this.now, t);
  }

  run(): SimResult {
    try {
      this.runChecked();
      return { ok: true, stats: this.stats, trace: this.tracing ? this.trace : [] };
    } catch (e) {
      const error = e instanceof Error ? `${e.message}\n${this.tracing ? (e.stack ?? '') : ''}` : String(e);
      return { ok: false, error, stats: this.stats, trace: this.trace };
    }
  }

  private runChecked(): void {
    const sc = this.sc;
    for (let c = 0; c < sc.clients; c++) this.at(this.rng.int(0, 50), () => this.startOp(c));
    this.at(this.rng.int(sc.faultEveryMs / 2, sc.faultEveryMs), () => this.fault());
    const checkEvery = 250;
    for (let t = checkEvery; t <= sc.durationMs; t += checkEvery) {
      this.runUntil(t);
      this.inv.checkLogMatching(this.stores());
    }

    // Settle: no more faults, every link healed, every member up; clients stop.
    this.faultsOn = false;
    this.clientsOn = false;
    this.cut.clear();
    this.log('SETTLE: faults off, all healed');
    for (const m of this.members.values()) if (!m.core) this.restart(m);
    // Outstanding client operations run to their end (ack, failure or timeout).
    this.runUntil(this.now + 40 * sc.tickMs + 50);

    // Progress: a write commits and every member of the final membership applies it.
    const settleBy = this.now + sc.settleMs;
    const barrier = enc.encode('barrier');
    let barrierAt: { id: MemberId; index: number; term: number } | null = null;
    const converged = () => {
      if (!barrierAt) return false;
      const l = this.members.get(barrierAt.id)!.core?.status();
      if (!l || l.commit < barrierAt.index) return false;
      const mem = l.membership;
      return [...mem.voters, ...mem.learners].every(
        (id) => (this.members.get(id)?.applied ?? 0) >= barrierAt!.index,
      );
    };
    while (this.now < settleBy && !converged()) {
      if (!barrierAt || this.members.get(barrierAt.id)?.core?.status().term !== barrierAt.term) {
        const l = this.leader();
        if (l?.core) {
          const r = l.core.propose(barrier);
          if (r.ok) barrierAt = { id: l.id, index: r.index, term: r.term };
          this.pump(l);
        }
      }
      this.runUntil(this.now + 20, converged);
    }
    if (!converged()) {
      const view = [...this.members.values()].map((m) => {
        const st = m.core?.status();
        return `${m.id}:${st?.role}/t${st?.term}/c${st?.commit}/a${m.applied}/last${st?.lastIndex}/leader=${st?.leader}/voters=${st?.membership.voters.join(',')}`;
      });
      throw new Error(
        `liveness: no write committed and applied everywhere ${sc.settleMs} ms after the faults stopped\n  ${view.join('\n  ')}`,
      );
    }

    this.inv.checkLogMatching(this.stores());
    this.inv.checkLeaderCompleteness();
    this.inv.checkAckedApplied(
      this.ops
        .filter((o) => o.kind === 'inc' && o.ret !== null)
        .map((o) => ({ data: o.data, value: o.value! })),
    );
    const history: CounterOp[] = [];
    for (const o of this.ops) {
      if (o.failed || !o.done) continue;
      if (o.kind === 'read') history.push({ kind: 'read', call: o.call, ret: o.ret!, value: o.value! });
      else if (o.ret === null) history.push({ kind: 'inc', call: o.call, ret: null, value: null });
      else history.push({ kind: 'inc', call: o.call, ret: o.ret, value: o.value! });
    }
    const lin = checkCounterHistory(history);
    if (!lin.ok) throw new Error(`client history of ${history.length} operations: ${lin.reason}`);
    this.stats.leaders = this.inv.leaderCount();
    this.stats.maxTerm = this.inv.maxTerm();
  }

  private stores(): Map<MemberId, Persisted> {
    return new Map([...this.members].map(([id, m]) => [id, m.store]));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Runs one seeded schedule. */
export function runSchedule(seed: number, tracing = false): SimResult & { scenario: Scenario } {
  const sc = scenarioFor(seed);
  return { ...new Simulation(sc, tracing).run(), scenario: sc };
}
