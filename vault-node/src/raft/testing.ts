// A lock-step harness for the core's unit tests: members process each Ready completely (persist,
// send, apply, advance) and messages are delivered in order until nothing moves. Faults are
// explicit: cut links, drop by predicate, crash and restart from what was persisted.

import { type RaftConfig, RaftCore } from './core.ts';
import type { Entry, HardState, MemberId, Membership, Message, Snapshot } from './types.ts';

export interface Persisted {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

/** A small deterministic PRNG (mulberry32), so each harness member gets its own stream. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Applies a Ready's durable part to an in-memory store, in the order the contract asks. */
export function persistReady(
  p: Persisted,
  rd: { hardState?: HardState; entries: readonly Entry[]; snapshot?: Snapshot },
): void {
  if (rd.snapshot) {
    p.snapshot = rd.snapshot;
    p.entries = [];
  }
  const first = rd.entries[0];
  if (first) {
    p.entries = p.entries.filter((e) => e.index < first.index);
    p.entries.push(...rd.entries);
  }
  if (rd.hardState) p.hardState = rd.hardState;
}

export type HarnessOptions = Partial<Omit<RaftConfig, 'id' | 'random' | 'initial'>>;

export class Harness {
  readonly cores = new Map<MemberId, RaftCore>();
  readonly stores = new Map<MemberId, Persisted>();
  readonly applied = new Map<MemberId, Entry[]>();
  readonly readStates = new Map<MemberId, { index: number; context: Uint8Array }[]>();
  /** Every message sent, for assertions. */
  readonly sent: Message[] = [];
  /** Directed links that lose everything: "a>b". */
  readonly cut = new Set<string>();
  drop: (m: Message) => boolean = () => false;
  private readonly opts: HarnessOptions;
  private readonly bootstrap: Membership;
  private queue: Message[] = [];

  constructor(voters: MemberId[], opts: HarnessOptions = {}, learners: MemberId[] = []) {
    this.opts = opts;
    this.bootstrap = { voters, learners };
    for (const id of [...voters, ...learners]) this.add(id, this.bootstrap);
  }

  /** Starts a member with an empty log and the given bootstrap membership. */
  add(id: MemberId, membership: Membership = { voters: [], learners: [] }): RaftCore {
    this.stores.set(id, { hardState: { term: 0, vote: null, commit: 0 }, entries: [] });
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return this.start(id, membership);
  }

  private start(id: MemberId, membership: Membership): RaftCore {
    const p = this.stores.get(id)!;
    const core = new RaftCore({
      ...this.opts,
      id,
      random: seededRandom([...id].reduce((h, c) => h * 31 + c.charCodeAt(0), 7)),
      initial: {
        hardState: p.hardState,
        entries: p.entries,
        membership,
        ...(p.snapshot ? { snapshot: p.snapshot } : {}),
      },
    });
    this.cores.set(id, core);
    return core;
  }

  core(id: MemberId): RaftCore {
    return this.cores.get(id)!;
  }

  crash(id: MemberId): void {
    this.cores.delete(id);
  }

  restart(id: MemberId): RaftCore {
    // The state machine restarts from the snapshot; the core hands the rest out again.
    const p = this.stores.get(id)!;
    this.applied.set(
      id,
      this.applied.get(id)!.filter((e) => e.index <= (p.snapshot?.metadata.index ?? 0)),
    );
    return this.start(id, this.bootstrap);
  }

  tick(id: MemberId, n = 1): void {
    for (let i = 0; i < n; i++) this.cores.get(id)?.tick();
  }

  /** Processes every Ready and delivers every message until nothing is left to do. */
  stabilize(limit = 10_000): void {
    for (let round = 0; round < limit; round++) {
      let moved = false;
      for (const [id, core] of this.cores) {
        if (!core.hasReady()) continue;
        moved = true;
        const rd = core.ready();
        persistReady(this.stores.get(id)!, rd);
        for (const m of rd.messages) {
          this.sent.push(m);
          this.queue.push(m);
        }
        const applied = this.applied.get(id)!;
        if (rd.snapshot) {
          applied.length = 0; // restored from the snapshot
        }
        applied.push(...rd.committedEntries);
        this.readStates.get(id)!.push(...rd.readStates);
        core.advance(rd);
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        moved = true;
        if (this.cut.has(`${m.from}>${m.to}`) || this.drop(m)) continue;
        this.cores.get(m.to)?.step(m);
      }
      if (!moved) return;
    }
    throw new Error('harness: did not stabilise');
  }

  /** Makes `id` time out and campaign, then lets the election finish. */
  elect(id: MemberId): void {
    this.tick(id, 2 * (this.opts.electionTicks ?? 10));
    this.stabilize();
  }

  leader(): MemberId | null {
    for (const [id, c] of this.cores) if (c.status().role === 'leader') return id;
    return null;
  }

  /** Normal entries each member applied, as strings. */
  appliedData(id: MemberId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.type === 'normal')
      .map((e) => new TextDecoder().decode(e.data));
  }

  cutBoth(a: MemberId, b: MemberId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  isolate(id: MemberId): void {
    for (const other of this.stores.keys()) if (other !== id) this.cutBoth(id, other);
  }

  heal(): void {
    this.cut.clear();
  }
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
