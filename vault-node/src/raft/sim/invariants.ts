// Raft's safety properties (Figure 3 of the Raft paper), checked against what the simulated
// members do and persist. Each failure names the property and the evidence.
//   election safety       at most one leader per term                          onStatus
//   log matching          same index and term => same entry and same prefix    checkLogMatching
//   leader completeness   an entry committed in term T is in every later
//                         leader's log                                          checkLeaderCompleteness
//   state-machine safety  no two members apply different entries at an index   onApply, onRestore
// plus: every acknowledged increment was applied exactly once, at the value it reported.

import type { RaftStatus } from '../core.ts';
import { type Persisted, persistReady } from '../testing.ts';
import type { Entry, MemberId, Ready, Snapshot } from '../types.ts';

interface Applied {
  term: number;
  type: Entry['type'];
  data: Uint8Array;
  /** The counter once this entry is applied. */
  value: number;
}

interface LeaderLog {
  term: number;
  id: MemberId;
  snapIndex: number;
  /** terms[k] is the term at snapIndex + 1 + k. */
  terms: number[];
}

const dec = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describe(e: { term: number; type: string; data: Uint8Array }): string {
  return `${e.type}@t${e.term}${e.type === 'normal' ? ` "${dec.decode(e.data)}"` : ''}`;
}

export class Invariants {
  private readonly leaders = new Map<number, MemberId>();
  private readonly leaderCommitSeen = new Map<string, number>();
  /** Lowest term of a leader seen with this index committed. */
  private readonly commitTerm = new Map<number, number>();
  private readonly applied = new Map<number, Applied>();
  /** Snapshot values by index, checked once the entry at that index is known. */
  private readonly snapshotValues = new Map<number, { term: number; value: number; id: MemberId }>();
  private readonly leaderLogs = new Map<string, LeaderLog>();

  onStatus(st: RaftStatus): void {
    if (st.role !== 'leader') return;
    const other = this.leaders.get(st.term);
    if (other !== undefined && other !== st.id) {
      throw new Error(`election safety: ${other} and ${st.id} are both leaders of term ${st.term}`);
    }
    this.leaders.set(st.term, st.id);
    const key = `${st.id}@${st.term}`;
    const from = this.leaderCommitSeen.get(key) ?? 0;
    for (let i = from + 1; i <= st.commit; i++) {
      const t = this.commitTerm.get(i);
      if (t === undefined || st.term < t) this.commitTerm.set(i, st.term);
    }
    if (st.commit > from) this.leaderCommitSeen.set(key, st.commit);
  }

  /** A leader's log, the first time it hands out a Ready: what it has persisted plus that Ready. */
  onReady(id: MemberId, st: RaftStatus, store: Persisted, rd: Ready): void {
    if (st.role !== 'leader') return;
    const key = `${id}@${st.term}`;
    if (this.leaderLogs.has(key)) return;
    const copy: Persisted = {
      hardState: store.hardState,
      entries: store.entries.slice(),
      ...(store.snapshot ? { snapshot: store.snapshot } : {}),
    };
    persistReady(copy, rd);
    this.leaderLogs.set(key, {
      term: st.term,
      id,
      snapIndex: copy.snapshot?.metadata.index ?? 0,
      terms: copy.entries.map((e) => e.term),
    });
  }

  onApply(id: MemberId, e: Entry, value: number): void {
    const seen = this.applied.get(e.index);
    if (seen) {
      if (
        seen.term !== e.term ||
        seen.type !== e.type ||
        !sameBytes(seen.data, e.data) ||
        seen.value !== value
      ) {
        throw new Error(
          `state-machine safety: ${id} applied ${describe(e)} (value ${value}) at ${e.index}, another member applied ${describe(seen)} (value ${seen.value})`,
        );
      }
      return;
    }
    this.applied.set(e.index, { term: e.term, type: e.type, data: e.data, value });
    const snap = this.snapshotValues.get(e.index);
    if (snap) this.checkSnapshot(snap.id, e.index, snap.term, snap.value);
  }

  /** A member installed or took a snapshot: it must be the state every member applied up to there. */
  onRestore(id: MemberId, s: Snapshot): void {
    const value = Number(dec.decode(s.data));
    const { index, term } = s.metadata;
    if (this.applied.has(index)) this.checkSnapshot(id, index, term, value);
    else this.snapshotValues.set(index, { term, value, id });
  }

  private checkSnapshot(id: MemberId, index: number, term: number, value: number): void {
    const a = this.applied.get(index)!;
    if (a.term !== term || a.value !== value) {
      throw new Error(
        `state-machine safety: ${id} holds a snapshot at ${index} (term ${term}, value ${value}) but the entry applied there is term ${a.term}, value ${a.value}`,
      );
    }
  }

  /**
   * At the moment a leader advances its commit index to `c`, no voter lacking the entry there may
   * still be able to win an election: a quorum of voters whose durable logs are no more up to date
   * than its own would elect it, and the committed entry would be lost (Raft paper, Figure 8).
   */
  onCommit(st: RaftStatus, stores: Map<MemberId, Persisted>): void {
    const c = st.commit;
    const view = (p: Persisted) => {
      const base = p.snapshot?.metadata.index ?? 0;
      const last = p.entries[p.entries.length - 1];
      return {
        base,
        lastIndex: last?.index ?? base,
        lastTerm: last?.term ?? p.snapshot?.metadata.term ?? 0,
        termAt: (i: number) => (i === base ? p.snapshot?.metadata.term : p.entries[i - base - 1]?.term),
      };
    };
    const leader = stores.get(st.id);
    if (!leader) return;
    const lv = view(leader);
    const term = lv.termAt(c);
    if (term === undefined || c <= lv.base) return; // not durable on the leader yet (a lone voter)
    const voters = st.membership.voters.map((id) => ({ id, v: view(stores.get(id)!) }));
    const quorum = Math.floor(voters.length / 2) + 1;
    for (const cand of voters) {
      if (c <= cand.v.base || cand.v.termAt(c) === term) continue;
      const electors = voters.filter(
        (u) =>
          cand.v.lastTerm > u.v.lastTerm ||
          (cand.v.lastTerm === u.v.lastTerm && cand.v.lastIndex >= u.v.lastIndex),
      );
      if (electors.length >= quorum) {
        throw new Error(
          `commit safety: ${st.id} (term ${st.term}) committed ${c} (term ${term}), but ${cand.id}, which lacks it (last ${cand.v.lastIndex}@t${cand.v.lastTerm}), could still be elected by ${electors.map((u) => u.id).join(', ')}`,
        );
      }
    }
  }

  checkLogMatching(stores: Map<MemberId, Persisted>): void {
    const logs = [...stores].map(([id, p]) => ({
      id,
      base: p.snapshot?.metadata.index ?? 0,
      entries: p.entries,
    }));
    const at = (l: (typeof logs)[number], i: number) => l.entries[i - l.base - 1];
    for (let x = 0; x < logs.length; x++) {
      for (let y = x + 1; y < logs.length; y++) {
        const a = logs[x]!;
        const b = logs[y]!;
        const lo = Math.max(a.base, b.base) + 1;
        let hi = Math.min(a.base + a.entries.length, b.base + b.entries.length);
        while (hi >= lo && at(a, hi)!.term !== at(b, hi)!.term) hi--;
        for (let i = lo; i <= hi; i++) {
          const ea = at(a, i)!;
          const eb = at(b, i)!;
          if (ea.index !== i || eb.index !== i)
            throw new Error(`log matching: ${a.id} or ${b.id} stores a gap at ${i}`);
          if (ea.term !== eb.term || ea.type !== eb.type || !sameBytes(ea.data, eb.data)) {
            throw new Error(
              `log matching: ${a.id} and ${b.id} agree at ${hi} (term ${at(a, hi)!.term}) but differ at ${i}: ${describe(ea)} vs ${describe(eb)}`,
            );
          }
        }
      }
    }
  }

  checkLeaderCompleteness(): void {
    for (const l of this.leaderLogs.values()) {
      for (const [i, t] of this.commitTerm) {
        if (t >= l.term || i <= l.snapIndex) continue;
        const want = this.applied.get(i);
        if (!want) continue;
        const got = l.terms[i - l.snapIndex - 1];
        if (got !== want.term) {
          throw new Error(
            `leader completeness: ${i} was committed in term ${t} (${describe(want)}) but ${l.id}, leader of term ${l.term}, had ${got === undefined ? 'no entry' : `term ${got}`} there`,
          );
        }
      }
    }
  }

  /** Every acknowledged increment is in the committed log exactly once, where it said it was. */
  checkAckedApplied(acked: readonly { data: Uint8Array; value: number }[]): void {
    const where = new Map<string, number[]>();
    for (const [i, a] of this.applied) {
      if (a.type !== 'normal') continue;
      const k = dec.decode(a.data);
      where.set(k, [...(where.get(k) ?? []), i]);
    }
    for (const op of acked) {
      const k = dec.decode(op.data);
      const at = where.get(k) ?? [];
      if (at.length !== 1)
        throw new Error(`acknowledged increment ${k} is applied ${at.length} times (${at.join(', ')})`);
      const v = this.applied.get(at[0]!)!.value;
      if (v !== op.value)
        throw new Error(`acknowledged increment ${k} reported ${op.value} but is ${v} in the log`);
    }
  }

  leaderCount(): number {
    return this.leaders.size;
  }

  maxTerm(): number {
    return Math.max(0, ...this.leaders.keys());
  }
}
