// Readiness and safe departure of a member, as the Pod's probes and preStop hook ask them.
import type { RaftNode } from '../raft/node/raft-node.ts';

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** How far behind the commit index a ready member may have applied (a heartbeat's worth of entries). */
const READY_APPLY_LAG = 64;

export interface ReadinessInput {
  readonly certified: boolean;
  readonly hasFleetSecret: boolean;
  readonly node: RaftNode | null;
}

/**
 * Ready = certified, holding the fleet secret, a voter of the committed configuration, with a known
 * leader, and applied close to the commit index. Never depends on anything but this member's view,
 * and never on quorum for liveness (that is /healthz, which does not look at Raft at all).
 */
export function readiness(i: ReadinessInput): Readiness {
  if (!i.certified) return { ready: false, reason: 'waiting for the HSM identity certificate' };
  if (!i.node) return { ready: false, reason: 'Raft not started yet' };
  if (!i.hasFleetSecret) return { ready: false, reason: 'waiting for the fleet secret' };
  const st = i.node.status();
  if (!st.membership.voters.includes(st.id)) {
    return {
      ready: false,
      reason: st.membership.learners.includes(st.id) ? 'a learner, catching up' : 'not a member yet',
    };
  }
  if (st.leader === null) return { ready: false, reason: 'no leader known' };
  if (st.applied + READY_APPLY_LAG < st.commit) {
    return { ready: false, reason: `catching up: applied ${st.applied} of ${st.commit}` };
  }
  return { ready: true };
}

export type StopVerdict = { readonly safe: true } | { readonly safe: false; readonly reason: string };

const quorumOf = (voters: number) => Math.floor(voters / 2) + 1;

/**
 * preStop: a leader hands leadership to the most caught-up other voter first; then the member may
 * leave once another member leads and the voters other than this one can still form a quorum.
 * (A follower judges from its own view: the leader it hears from is alive. The PodDisruptionBudget
 * and the operator's rollout checks guard the cases it cannot see.)
 */
export async function waitUntilSafeToStop(node: RaftNode, timeoutMs: number): Promise<StopVerdict> {
  const deadline = Date.now() + timeoutMs;
  let last = 'waiting';
  while (Date.now() < deadline) {
    const st = node.status();
    const voters = st.membership.voters;
    if (!voters.includes(st.id)) return { safe: true };
    if (voters.length - 1 < quorumOf(voters.length)) {
      last = `the other ${voters.length - 1} voters cannot form a quorum of ${voters.length}`;
    } else if (st.leader === st.id) {
      const target = Object.entries(st.progress ?? {})
        .filter(([m, p]) => m !== st.id && voters.includes(m) && p.recentActive)
        .sort(([, a], [, b]) => b.match - a.match)[0]?.[0];
      if (target) {
        try {
          await node.transferLeadership(target, Math.max(1, Math.min(5000, deadline - Date.now())));
          continue;
        } catch (e) {
          last = `leadership transfer to ${target} failed: ${e instanceof Error ? e.message : String(e)}`;
        }
      } else last = 'no active voter to hand leadership to';
    } else if (st.leader !== null) {
      return { safe: true };
    } else last = 'no leader known';
    await new Promise((r) => setTimeout(r, 200));
  }
  return { safe: false, reason: last };
}
