// The parts of VaultFleet status that summarise the observation: phase, the printer-column fields
// (readyMembers, quorum, leader, term), and the member list. Conditions are in conditions.ts.

import type { VaultFleetStatus } from '@keyfleet/sdk/api/index';
import { memberName } from '../../specs/names.ts';
import type { FleetObservation } from './observed.ts';
import { assessQuorum, hasFormed, isHealthy, member, sameZones } from './quorum.ts';

export type Phase = NonNullable<VaultFleetStatus['phase']>;
export type MemberStatus = NonNullable<VaultFleetStatus['members']>[number];

/**
 * One word for `kubectl get`, the first that applies: Paused; Pending (no member yet);
 * Bootstrapping; Degraded (no leader or no healthy quorum); Scaling (the Raft group is not the
 * spec's zones); Updating (a member runs an old configuration); Degraded (a member is not healthy);
 * Available.
 */
export function derivePhase(obs: FleetObservation): Phase {
  if (obs.spec.paused) return 'Paused';
  if (!hasFormed(obs)) return obs.members.some((m) => m.pod !== 'missing') ? 'Bootstrapping' : 'Pending';
  const q = assessQuorum(obs);
  const raft = obs.raft;
  if (raft === null || raft.leader === null || !q.hasQuorum) return 'Degraded';
  if (!sameZones(raft.voters, obs.spec.zones) || raft.learners.length > 0) return 'Scaling';
  const outdated = (z: string) => {
    const m = member(obs, z);
    return m.pod !== 'missing' && m.configHash !== obs.desiredConfigHash;
  };
  if (obs.spec.zones.some(outdated)) return 'Updating';
  if (obs.spec.zones.some((z) => !isHealthy(member(obs, z)))) return 'Degraded';
  return 'Available';
}

export function memberStatuses(fleetName: string, obs: FleetObservation): MemberStatus[] {
  return obs.members.map((m) => {
    const s: MemberStatus = { zone: m.zone, ready: isHealthy(m), role: m.role ?? 'unknown' };
    if (m.pod !== 'missing') s.pod = memberName(fleetName, m.zone);
    if (m.node !== undefined) s.node = m.node;
    if (m.hsmKeyId !== undefined) s.hsmKeyId = m.hsmKeyId;
    if (m.matchIndex !== undefined) s.matchIndex = m.matchIndex;
    return s;
  });
}

/** Status fields other than conditions and attestation. */
export function statusSummary(
  fleetName: string,
  generation: number,
  obs: FleetObservation,
): Omit<VaultFleetStatus, 'conditions' | 'attestation'> {
  const q = assessQuorum(obs);
  const status: Omit<VaultFleetStatus, 'conditions' | 'attestation'> = {
    observedGeneration: generation,
    phase: derivePhase(obs),
    readyMembers: obs.members.filter((m) => obs.spec.zones.includes(m.zone) && isHealthy(m)).length,
    quorum: q.quorum,
    members: memberStatuses(fleetName, obs),
  };
  if (obs.raft !== null) {
    if (obs.raft.leader !== null) status.leader = obs.raft.leader;
    status.term = obs.raft.term;
    status.commitIndex = obs.raft.commitIndex;
  }
  return status;
}
