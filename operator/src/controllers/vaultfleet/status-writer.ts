// The fleet's status from one observation: the summary and member list (status-summary.ts), the
// conditions (conditions.ts, keeping lastTransitionTime while a condition holds), and the
// attestation: as the attestation pass reports it (attestation-publisher.ts), else as it was. Written through the status
// subresource only when it differs from what is stored, so a settled fleet costs no writes; and
// the fleet gauges follow the same observation.

import type { VaultFleet, VaultFleetStatus } from '@keyfleet/sdk/api/index';
import type { OperatorMetrics } from '../../metrics.ts';
import { fleetName, fleetNamespace } from '../../specs/labels.ts';
import { type ComputedCondition, computeConditions, mergeConditions } from './conditions.ts';
import type { FleetObservation } from './observed.ts';
import { assessQuorum, isHealthy } from './quorum.ts';
import type { RolloutStep } from './rollout.ts';
import { statusSummary } from './status-summary.ts';

export function desiredStatus(
  fleet: VaultFleet,
  observation: FleetObservation,
  step: RolloutStep,
  now: () => Date,
  attested: {
    readonly conditions?: readonly ComputedCondition[];
    readonly attestation?: NonNullable<VaultFleetStatus['attestation']>;
  } = {},
): VaultFleetStatus {
  const generation = fleet.metadata.generation ?? 0;
  const previous = fleet.status ?? {};
  const status: VaultFleetStatus = {
    ...statusSummary(fleetName(fleet), generation, observation),
    conditions: mergeConditions(
      previous.conditions,
      [...computeConditions({ observation, step, generation }), ...(attested.conditions ?? [])],
      now,
    ),
  };
  const attestation = attested.attestation ?? previous.attestation;
  if (attestation !== undefined) status.attestation = attestation;
  return status;
}

/** JSON with object keys sorted, so two statuses compare equal whatever order they were built in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

export function statusChanged(fleet: VaultFleet, status: VaultFleetStatus): boolean {
  return canonical(fleet.status ?? {}) !== canonical(status);
}

/** The object to apply to the status subresource: identity and status only. */
export function statusPatch(fleet: VaultFleet, status: VaultFleetStatus): VaultFleet {
  return {
    apiVersion: fleet.apiVersion,
    kind: fleet.kind,
    metadata: { name: fleetName(fleet), namespace: fleetNamespace(fleet) },
    spec: fleet.spec,
    status,
  };
}

/** Sets the fleet gauges; counts a leader change when the leader differs from the stored one. */
export function recordFleetMetrics(
  metrics: OperatorMetrics,
  fleet: VaultFleet,
  observation: FleetObservation,
): void {
  const labels = { namespace: fleetNamespace(fleet), vaultfleet: fleetName(fleet) };
  const q = assessQuorum(observation);
  const inSpec = observation.members.filter((m) => observation.spec.zones.includes(m.zone));
  metrics.fleetMembers.set(labels, observation.spec.zones.length);
  metrics.fleetMembersReady.set(labels, inSpec.filter(isHealthy).length);
  metrics.fleetQuorum.set(labels, q.quorum);
  metrics.fleetQuorumHealthy.set(labels, q.hasQuorum && observation.raft?.leader ? 1 : 0);
  for (const m of inSpec) metrics.fleetMemberReady.set({ ...labels, zone: m.zone }, isHealthy(m) ? 1 : 0);
  const before = fleet.status?.leader;
  const now = observation.raft?.leader ?? undefined;
  if (before !== undefined && now !== undefined && before !== now) metrics.fleetLeaderChanges.inc(labels);
}
