// The single next safe step for a fleet: given what was observed, which one change to make now,
// with the explanation a person reads in the Event. Pure; the reconcile executes the step and
// calls again on the next observation (level-based, like the etcd operator and Strimzi's
// KafkaRoller: one membership change per reconcile, quorum checked before every restart).
//
// The rules, in the order they are tried:
//   1. paused: nothing.
//   2. until the fleet has formed (a leader was ever seen): create the initial members (cluster
//      state `new`), nothing else.
//   3. no leader: only restart members that are down and whose data is intact; everything else
//      waits, because without a leader nothing can be checked or committed.
//   4. heal members of the group: recreate a missing, failed or node-lost pod (the member is down
//      already, so this never costs availability, and needs no commit).
//   5. a membership change in flight: wait for it (one Raft membership change at a time). Then a
//      member whose data is gone is first removed from the group, and rejoins empty as a learner
//      through step 7 (a voter must never forget its log).
//   6. learners: promote one once it has caught up; remove one whose zone left the spec.
//   7. zones added to the spec, one at a time: create the pod (cluster state `existing`), add it
//      as a learner, and step 6 promotes it. Adding before removing keeps fault tolerance when a
//      zone is replaced.
//   8. zones removed from the spec: remove the voter from the group (the leader last, after a
//      leadership transfer), then delete its pod.
//   9. rolling update of members whose config hash is not the spec's: members that are already
//      down first, then followers, the leader last after a leadership transfer; a healthy member
//      only while the others hold quorum and the number of unavailable voters stays within
//      min(updateStrategy.maxUnavailable, members - quorum).
//  10. otherwise wait for unready members, or report that the fleet is up to date.
// A step that needs a commit (membership changes, leadership transfer) is only taken while the
// healthy voters form a quorum; a step that stops a healthy member only while the rest still do.

import type { ClusterState } from '../../specs/vault-contract.ts';
import {
  DEFAULT_ROLLOUT_POLICY,
  type FleetObservation,
  type ObservedMember,
  type RaftView,
} from './observed.ts';
import {
  assessQuorum,
  hasFormed,
  isHealthy,
  keepsQuorumWithout,
  member,
  type QuorumAssessment,
  sameZones,
} from './quorum.ts';

/**
 * Why a member is recreated, which also says what the reconcile deletes before creating it again:
 *   pod-missing  nothing (create the pod on its existing claim)
 *   pod-failed   the failed pod
 *   node-lost    the pod, forcibly (its node will not confirm the deletion)
 *   data-lost    the pod and the lost claim (the member was removed from the group first; it
 *                rejoins empty as a learner)
 */
export type RecreateCause = 'pod-missing' | 'pod-failed' | 'node-lost' | 'data-lost';

export type RolloutAction =
  /** Create the zone's claim (if missing) and pod. */
  | { readonly kind: 'CreateMember'; readonly zone: string; readonly clusterState: ClusterState }
  | { readonly kind: 'AddLearner'; readonly zone: string }
  | { readonly kind: 'Promote'; readonly zone: string }
  /** Remove the zone's member from the Raft group (a membership change through the leader). */
  | { readonly kind: 'RemoveMember'; readonly zone: string }
  /** Delete the pod (and, under the Delete retention policy, the claim) of a zone no longer in the fleet. */
  | { readonly kind: 'DeleteMember'; readonly zone: string }
  | { readonly kind: 'RecreateMember'; readonly zone: string; readonly cause: RecreateCause }
  | { readonly kind: 'TransferLeadership'; readonly from: string; readonly to: string }
  /** Delete the member's out-of-date pod; it is recreated from the current spec as pod-missing. */
  | { readonly kind: 'UpdateMember'; readonly zone: string }
  | { readonly kind: 'Wait' }
  | { readonly kind: 'None' };

export interface Explanation {
  /** CamelCase, for the Event's reason. */
  readonly reason: string;
  /** One or two sentences for the Event's message. */
  readonly message: string;
  readonly eventType: 'Normal' | 'Warning';
}

export type RolloutStep = RolloutAction & Explanation;

function step<A extends RolloutAction>(
  action: A,
  reason: string,
  message: string,
  eventType: Explanation['eventType'] = 'Normal',
): A & Explanation {
  return { ...action, reason, message, eventType };
}

function wait(reason: string, message: string, eventType: Explanation['eventType'] = 'Normal'): RolloutStep {
  return step({ kind: 'Wait' }, reason, message, eventType);
}

function list(zones: readonly string[]): string {
  return zones.length === 0 ? 'none' : zones.join(', ');
}

/** Zones in a stable order: the spec's first, then any others sorted. */
function allZones(obs: FleetObservation): string[] {
  const extra = new Set<string>();
  for (const m of obs.members) if (!obs.spec.zones.includes(m.zone)) extra.add(m.zone);
  for (const z of [...(obs.raft?.voters ?? []), ...(obs.raft?.learners ?? [])]) {
    if (!obs.spec.zones.includes(z)) extra.add(z);
  }
  return [...obs.spec.zones, ...[...extra].sort()];
}

function dataGone(m: ObservedMember): boolean {
  return m.claim === 'missing' || m.claim === 'lost';
}

function nodeLost(obs: FleetObservation, m: ObservedMember): boolean {
  const after = (obs.policy ?? DEFAULT_ROLLOUT_POLICY).nodeLostAfterSeconds;
  return (
    m.pod !== 'missing' && m.pod !== 'terminating' && !m.nodeReady && (m.nodeNotReadySeconds ?? 0) >= after
  );
}

/** A pod that is gone or dead while its data is intact: starting it again can only help. */
function restartInPlace(obs: FleetObservation, m: ObservedMember): RolloutStep | null {
  if (m.pod === 'missing' && !dataGone(m)) {
    return step(
      { kind: 'RecreateMember', zone: m.zone, cause: 'pod-missing' },
      'RecreatingMember',
      `member ${m.zone} has no pod; recreating it on its existing volume so it catches up from the leader`,
    );
  }
  if (m.pod === 'failed') {
    return step(
      { kind: 'RecreateMember', zone: m.zone, cause: 'pod-failed' },
      'RecreatingMember',
      `member ${m.zone}'s pod failed and will not restart; replacing it`,
    );
  }
  if (nodeLost(obs, m)) {
    return step(
      { kind: 'RecreateMember', zone: m.zone, cause: 'node-lost' },
      'RecreatingMember',
      `member ${m.zone}'s node has not been Ready for ${m.nodeNotReadySeconds}s; deleting its pod so it starts on another node of the zone`,
      'Warning',
    );
  }
  return null;
}

function bootstrapStep(obs: FleetObservation): RolloutStep {
  const zones = obs.spec.zones;
  if (obs.bootstrapZones !== undefined && !sameZones(obs.bootstrapZones, zones)) {
    return wait(
      'ZonesChangedDuringBootstrap',
      `spec.zones changed from [${list(obs.bootstrapZones)}] to [${list(zones)}] before the fleet formed; members started with different initial memberships could form two clusters. Restore spec.zones, or delete the fleet and its claims to start over`,
      'Warning',
    );
  }
  for (const zone of zones) {
    const m = member(obs, zone);
    if (m.pod === 'missing') {
      return step(
        { kind: 'CreateMember', zone, clusterState: 'new' },
        'CreatingMember',
        `creating initial member ${zone} (${zones.indexOf(zone) + 1} of ${zones.length}) to form the fleet`,
      );
    }
    if (m.pod === 'failed') return restartInPlace(obs, m)!;
  }
  const ready = zones.filter((z) => member(obs, z).ready).length;
  return wait(
    'Bootstrapping',
    `all ${zones.length} initial members created, ${ready} ready; waiting for them to elect a leader`,
  );
}

function leaderlessStep(obs: FleetObservation): RolloutStep {
  for (const zone of obs.spec.zones) {
    const restart = restartInPlace(obs, member(obs, zone));
    if (restart) return restart;
  }
  const q = assessQuorum(obs);
  const running = q.voters.filter((z) => member(obs, z).pod === 'running').length;
  return wait(
    'NoLeader',
    `no leader: ${running} of ${q.voters.length} members running, ${q.quorum} needed to elect one; nothing that could take another member down is done until a leader is back`,
    'Warning',
  );
}

function quorumAtRisk(what: string, q: QuorumAssessment): RolloutStep {
  return wait(
    'QuorumAtRisk',
    `not ${what}: ${q.healthyVoters.length} of ${q.voters.length} voters healthy (${list(q.healthyVoters)}), ${q.quorum} needed`,
    'Warning',
  );
}

/** The best member to hand leadership to: healthy, staying, most caught up, then spec order. */
function transferTarget(
  obs: FleetObservation,
  q: QuorumAssessment,
  from: string,
  upToDateOnly: boolean,
): string | undefined {
  const candidates = q.healthyVoters.filter(
    (z) =>
      z !== from &&
      obs.spec.zones.includes(z) &&
      (!upToDateOnly || member(obs, z).configHash === obs.desiredConfigHash),
  );
  const order = (z: string) => obs.spec.zones.indexOf(z);
  return candidates.sort((a, b) => {
    const byIndex = (member(obs, b).matchIndex ?? 0) - (member(obs, a).matchIndex ?? 0);
    return byIndex !== 0 ? byIndex : order(a) - order(b);
  })[0];
}

function transferLeadership(
  obs: FleetObservation,
  q: QuorumAssessment,
  from: string,
  why: string,
  upToDateOnly: boolean,
): RolloutStep {
  if (!q.hasQuorum) return quorumAtRisk(`transferring leadership away from ${from}`, q);
  const to = transferTarget(obs, q, from, upToDateOnly);
  if (to === undefined) {
    return wait(
      'NoTransferTarget',
      `${why}, but no other healthy${upToDateOnly ? ', up-to-date' : ''} voter can lead`,
    );
  }
  return step(
    { kind: 'TransferLeadership', from, to },
    'TransferringLeadership',
    `${why}: transferring leadership from ${from} to ${to} first`,
  );
}

function removeFromGroup(
  obs: FleetObservation,
  raft: RaftView,
  q: QuorumAssessment,
  zone: string,
  why: string,
): RolloutStep {
  if (raft.leader === zone) return transferLeadership(obs, q, zone, `${why}, and it leads`, false);
  // Raft would let the smaller group commit the removal on its own; we also want the current group
  // to hold a quorum, so the leader doing it is not a stale one about to step down.
  const voter = raft.voters.includes(zone);
  const safe = q.hasQuorum && (!voter || keepsQuorumWithout(q, zone, raft.voters.length - 1));
  if (!safe) return quorumAtRisk(`removing ${zone}`, q);
  return step(
    { kind: 'RemoveMember', zone },
    'RemovingMember',
    `${why}: removing ${zone} from the Raft group`,
  );
}

function groupZonesInSpec(obs: FleetObservation, raft: RaftView): string[] {
  return obs.spec.zones.filter((z) => raft.voters.includes(z) || raft.learners.includes(z));
}

/**
 * Restarting a member in place needs no commit, so it goes before waiting on a membership change:
 * that change may be waiting for exactly these members to commit.
 */
function restartStep(obs: FleetObservation, raft: RaftView): RolloutStep | null {
  for (const zone of groupZonesInSpec(obs, raft)) {
    const restart = restartInPlace(obs, member(obs, zone));
    if (restart) return restart;
  }
  return null;
}

function dataLossStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep | null {
  for (const zone of groupZonesInSpec(obs, raft)) {
    const m = member(obs, zone);
    if (dataGone(m)) {
      const why = `member ${zone}'s volume is ${m.claim}, so its log is gone; it must rejoin empty`;
      return removeFromGroup(obs, raft, q, zone, why);
    }
  }
  return null;
}

function learnerStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep | null {
  for (const zone of raft.learners) {
    if (!obs.spec.zones.includes(zone))
      return removeFromGroup(obs, raft, q, zone, `learner ${zone} is no longer in spec.zones`);
    const m = member(obs, zone);
    if (m.pod !== 'running' || !m.caughtUp) {
      return wait(
        'LearnerCatchingUp',
        `learner ${zone} is catching up (match index ${m.matchIndex ?? 0} of ${raft.commitIndex}); it is promoted when caught up`,
      );
    }
    // The change must commit. Afterwards the caught-up learner counts as healthy too, and
    // quorum(n + 1) <= quorum(n) + 1, so a group with a healthy quorum keeps one.
    if (!q.hasQuorum) return quorumAtRisk(`promoting ${zone}`, q);
    return step(
      { kind: 'Promote', zone },
      'PromotingLearner',
      `learner ${zone} has caught up: promoting it to voter`,
    );
  }
  return null;
}

function joinStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep | null {
  const zone = obs.spec.zones.find((z) => !raft.voters.includes(z) && !raft.learners.includes(z));
  if (zone === undefined) return null;
  const m = member(obs, zone);
  if (m.pod === 'terminating')
    return wait('MemberTerminating', `waiting for the old pod of ${zone} to terminate`);
  if (m.claim === 'lost' || (m.claim === 'missing' && m.pod !== 'missing')) {
    return step(
      { kind: 'RecreateMember', zone, cause: 'data-lost' },
      'RecreatingMember',
      `zone ${zone} is joining but its volume is ${m.claim}: replacing its pod and claim with empty ones`,
    );
  }
  if (m.pod === 'missing') {
    return step(
      { kind: 'CreateMember', zone, clusterState: 'existing' },
      'CreatingMember',
      `creating member ${zone}; it joins the running fleet as a learner`,
    );
  }
  if (m.pod === 'failed') return restartInPlace(obs, m)!;
  if (m.pod === 'pending')
    return wait('MemberStarting', `waiting for the pod of ${zone} to start before adding it`);
  if (!q.hasQuorum) return quorumAtRisk(`adding ${zone}`, q);
  return step({ kind: 'AddLearner', zone }, 'AddingLearner', `adding ${zone} to the Raft group as a learner`);
}

function scaleDownStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep | null {
  const leaving = raft.voters.filter((z) => !obs.spec.zones.includes(z));
  if (leaving.length === 0) return null;
  // Members already down first (removing them costs nothing), the leader last.
  const rank = (z: string) => (z === raft.leader ? 2 : q.healthyVoters.includes(z) ? 1 : 0);
  const zone = [...leaving].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1))[0]!;
  return removeFromGroup(obs, raft, q, zone, `zone ${zone} is no longer in spec.zones`);
}

function garbageStep(obs: FleetObservation, raft: RaftView): RolloutStep | null {
  // Claims of zones that left follow the same retention policy as a deleted fleet's.
  const retainClaims = obs.spec.storage.retentionPolicy === 'Retain';
  for (const zone of allZones(obs)) {
    if (obs.spec.zones.includes(zone) || raft.voters.includes(zone) || raft.learners.includes(zone)) continue;
    const m = member(obs, zone);
    const podLeft = m.pod !== 'missing' && m.pod !== 'terminating';
    const claimLeft = !retainClaims && m.claim !== 'missing' && m.claim !== 'lost';
    if (podLeft || claimLeft) {
      return step(
        { kind: 'DeleteMember', zone },
        'DeletingMember',
        `zone ${zone} has left the fleet: deleting its pod${retainClaims ? ' (its claim is retained)' : ' and claim'}`,
      );
    }
  }
  return null;
}

function updateStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep | null {
  const outdated = obs.spec.zones.filter((z) => {
    const m = member(obs, z);
    return (
      raft.voters.includes(z) &&
      m.pod !== 'missing' &&
      m.pod !== 'terminating' &&
      m.configHash !== obs.desiredConfigHash
    );
  });
  if (outdated.length === 0) return null;
  const rank = (z: string) => (z === raft.leader ? 2 : q.healthyVoters.includes(z) ? 1 : 0);
  const zone = [...outdated].sort((a, b) => rank(a) - rank(b))[0]!;
  const progress = `${obs.spec.zones.length - outdated.length} of ${obs.spec.zones.length} members up to date`;
  if (zone === raft.leader) {
    return transferLeadership(
      obs,
      q,
      zone,
      `leader ${zone} is the last out-of-date member (${progress})`,
      true,
    );
  }
  if (!q.healthyVoters.includes(zone)) {
    // Already down: updating it costs no availability, but still only while the others commit.
    if (!q.hasQuorum) return quorumAtRisk(`updating ${zone}`, q);
    return step(
      { kind: 'UpdateMember', zone },
      'UpdatingMember',
      `updating ${zone}, which is not healthy anyway (${progress})`,
    );
  }
  // budget <= members - quorum, so staying within it also leaves a healthy quorum without `zone`.
  const budget = Math.min(obs.spec.updateStrategy.maxUnavailable, q.faultTolerance);
  if (q.unavailableVoters.length + 1 > budget) {
    return wait(
      'UpdateBudgetExhausted',
      `${q.unavailableVoters.length} voter(s) unavailable (${list(q.unavailableVoters)}); updating ${zone} would exceed ${budget} (maxUnavailable ${obs.spec.updateStrategy.maxUnavailable}, fault tolerance ${q.faultTolerance}); ${progress}`,
    );
  }
  return step({ kind: 'UpdateMember', zone }, 'UpdatingMember', `updating ${zone} (${progress})`);
}

function settledStep(obs: FleetObservation, raft: RaftView, q: QuorumAssessment): RolloutStep {
  const unready = obs.spec.zones.filter((z) => !isHealthy(member(obs, z)));
  if (unready.length > 0) {
    const eventType = q.hasQuorum ? 'Normal' : 'Warning';
    return wait(
      'WaitingForMembers',
      `${obs.spec.zones.length - unready.length} of ${obs.spec.zones.length} members healthy; waiting for ${list(unready)}`,
      eventType,
    );
  }
  return step(
    { kind: 'None' },
    'UpToDate',
    `all ${obs.spec.zones.length} members healthy and up to date; leader ${raft.leader}`,
  );
}

export function nextStep(obs: FleetObservation): RolloutStep {
  if (obs.spec.paused) {
    return step({ kind: 'None' }, 'Paused', 'spec.paused is true: no changes are made to the fleet');
  }
  // Not only the recorded flag: the operator may not have recorded the forming yet.
  if (!hasFormed(obs)) return bootstrapStep(obs);
  const raft = obs.raft;
  if (raft === null || raft.leader === null) return leaderlessStep(obs);
  const restart = restartStep(obs, raft);
  if (restart) return restart;
  if (raft.pendingChange !== null) {
    const { kind, zone } = raft.pendingChange;
    return wait('MembershipChangePending', `waiting for the membership change ${kind} ${zone} to commit`);
  }
  const q = assessQuorum(obs);
  return (
    dataLossStep(obs, raft, q) ??
    learnerStep(obs, raft, q) ??
    joinStep(obs, raft, q) ??
    scaleDownStep(obs, raft, q) ??
    garbageStep(obs, raft) ??
    updateStep(obs, raft, q) ??
    settledStep(obs, raft, q)
  );
}
