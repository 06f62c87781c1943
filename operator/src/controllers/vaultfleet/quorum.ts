// Who counts towards the fleet's majority right now. A voter is healthy when its pod is running and
// ready and the leader reports it caught up: only such members can be relied on to commit without
// delay, so only they count when deciding whether another member may be taken down.

import { faultTolerance, quorumSize } from '../../specs/quorum-size.ts';
import type { FleetObservation, ObservedMember } from './observed.ts';

export function isHealthy(m: ObservedMember): boolean {
  return m.pod === 'running' && m.ready && m.caughtUp;
}

export interface QuorumAssessment {
  /** Zones of the voters (the spec's zones when the leader's view is unknown). */
  readonly voters: readonly string[];
  readonly quorum: number;
  /** Voters that are healthy, in voter order. */
  readonly healthyVoters: readonly string[];
  /** healthyVoters.length >= quorum. */
  readonly hasQuorum: boolean;
  /** Voters the fleet can lose and keep a majority. */
  readonly faultTolerance: number;
  /** Voters that are not healthy. */
  readonly unavailableVoters: readonly string[];
}

const ABSENT: Omit<ObservedMember, 'zone'> = {
  pod: 'missing',
  ready: false,
  nodeReady: true,
  claim: 'missing',
  caughtUp: false,
};

/** The observed member of `zone`; a zone nothing was observed for has no pod and no claim. */
export function member(obs: FleetObservation, zone: string): ObservedMember {
  return obs.members.find((m) => m.zone === zone) ?? { zone, ...ABSENT };
}

export function assessQuorum(obs: FleetObservation): QuorumAssessment {
  const voters = obs.raft?.voters ?? obs.spec.zones;
  const quorum = quorumSize(voters.length);
  const healthy = (z: string) => isHealthy(member(obs, z));
  // Without a leader nobody is reported caught up, so nobody counts: that is the truth about a
  // fleet without a leader, it cannot commit.
  const healthyVoters = obs.raft?.leader ? voters.filter(healthy) : [];
  return {
    voters,
    quorum,
    healthyVoters,
    hasQuorum: healthyVoters.length >= quorum,
    faultTolerance: faultTolerance(voters.length),
    unavailableVoters: voters.filter((z) => !healthyVoters.includes(z)),
  };
}

/** Healthy voters left if `zone` stopped, against the quorum of `voterCount` voters. */
export function keepsQuorumWithout(q: QuorumAssessment, zone: string, voterCount = q.voters.length): boolean {
  return q.healthyVoters.filter((z) => z !== zone).length >= quorumSize(voterCount);
}

/** Same zones, in any order. */
export function sameZones(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((z) => b.includes(z));
}

/**
 * A fleet has formed once any leader is seen: a quorum elected it, so it may already hold
 * acknowledged data, and from then on an empty member must never again start as `new`.
 */
export function hasFormed(obs: FleetObservation): boolean {
  return obs.bootstrapped || (obs.raft !== null && obs.raft.leader !== null);
}
