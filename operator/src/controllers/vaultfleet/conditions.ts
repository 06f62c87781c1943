// The fleet's status conditions, as data: one small function per condition type computes its
// status, reason and message from the observation (after RabbitMQ's cluster-operator), and
// mergeConditions keeps lastTransitionTime when a condition's status did not change, so a
// condition says since when it has been what it is. The clock is a parameter.

import type { VaultFleetStatus } from '@keyfleet/sdk/api/index';
import type { FleetObservation } from './observed.ts';
import { assessQuorum, hasFormed, isHealthy, member, type QuorumAssessment } from './quorum.ts';
import type { RolloutStep } from './rollout.ts';

export type Condition = NonNullable<VaultFleetStatus['conditions']>[number];
export type ConditionStatus = Condition['status'];
export type ConditionType = 'Available' | 'Progressing' | 'Degraded' | 'QuorumHealthy' | 'Attested';

/** A condition before it is stamped with a transition time. */
export interface ComputedCondition {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
}

export interface ConditionInput {
  readonly observation: FleetObservation;
  readonly step: RolloutStep;
  /** metadata.generation of the fleet the observation was made for. */
  readonly generation: number;
}

function condition(
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  generation: number,
): ComputedCondition {
  return { type, status, reason, message, observedGeneration: generation };
}

function counts(q: QuorumAssessment): string {
  return `${q.healthyVoters.length} of ${q.voters.length} voters healthy, quorum ${q.quorum}`;
}

/** Clients can register and recover: there is a leader and a healthy quorum behind it. */
export function availableCondition({ observation, generation }: ConditionInput): ComputedCondition {
  const q = assessQuorum(observation);
  if (!hasFormed(observation)) {
    return condition('Available', 'False', 'Bootstrapping', 'the fleet has not formed yet', generation);
  }
  if (!observation.raft?.leader) {
    return condition('Available', 'False', 'NoLeader', `no member is leader; ${counts(q)}`, generation);
  }
  if (!q.hasQuorum) return condition('Available', 'False', 'QuorumLost', counts(q), generation);
  return condition(
    'Available',
    'True',
    'QuorumAvailable',
    `leader ${observation.raft.leader}; ${counts(q)}`,
    generation,
  );
}

/** The quorum has a margin: the fleet can lose another member and keep serving. */
export function quorumHealthyCondition({ observation, generation }: ConditionInput): ComputedCondition {
  const q = assessQuorum(observation);
  const margin = q.healthyVoters.length - q.quorum;
  if (!observation.raft?.leader || margin < 0) {
    return condition('QuorumHealthy', 'False', 'QuorumLost', counts(q), generation);
  }
  if (margin === 0) {
    return condition(
      'QuorumHealthy',
      'False',
      'QuorumAtMinimum',
      `${counts(q)}: losing one more member stops the fleet`,
      generation,
    );
  }
  return condition(
    'QuorumHealthy',
    'True',
    'QuorumHasMargin',
    `${counts(q)}: can lose ${margin} more`,
    generation,
  );
}

/** Some member of the spec is not healthy (down, not caught up, or not yet part of the group). */
export function degradedCondition({ observation, generation }: ConditionInput): ComputedCondition {
  const unhealthy = observation.spec.zones.filter((z) => !isHealthy(member(observation, z)));
  if (unhealthy.length === 0) {
    return condition(
      'Degraded',
      'False',
      'AllMembersHealthy',
      `all ${observation.spec.zones.length} members healthy`,
      generation,
    );
  }
  return condition(
    'Degraded',
    'True',
    'MembersUnavailable',
    `${unhealthy.length} of ${observation.spec.zones.length} members not healthy: ${unhealthy.join(', ')}`,
    generation,
  );
}

/** The operator is moving the fleet towards its spec; reason and message are those of the next step. */
export function progressingCondition({ observation, step, generation }: ConditionInput): ComputedCondition {
  if (observation.spec.paused) {
    return condition('Progressing', 'Unknown', 'Paused', step.message, generation);
  }
  // Waiting for members to become ready on their own is not progress the operator makes: Degraded says it.
  if (step.kind === 'None' || step.reason === 'WaitingForMembers') {
    return condition('Progressing', 'False', 'UpToDate', 'every member runs the current spec', generation);
  }
  return condition('Progressing', 'True', step.reason, step.message, generation);
}

export function computeConditions(input: ConditionInput): ComputedCondition[] {
  return [availableCondition, progressingCondition, degradedCondition, quorumHealthyCondition].map((f) =>
    f(input),
  );
}

/** RFC 3339 at second precision, as Kubernetes writes times. */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The new conditions list: computed conditions replace their previous version, keeping its
 * lastTransitionTime when the status is the same; conditions of other types (e.g. Attested, set
 * elsewhere) are kept as they are.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  computed: readonly ComputedCondition[],
  now: () => Date,
): Condition[] {
  const old = new Map((previous ?? []).map((c) => [c.type, c]));
  const stamped = computed.map((c): Condition => {
    const before = old.get(c.type);
    const lastTransitionTime =
      before !== undefined && before.status === c.status ? before.lastTransitionTime : kubeTime(now());
    return { ...c, lastTransitionTime };
  });
  const types = new Set(computed.map((c) => c.type as string));
  return [...stamped, ...(previous ?? []).filter((c) => !types.has(c.type))];
}
