// The PodDisruptionBudget: voluntary evictions (node drains) may take down at most as many members
// as the fleet can lose and keep a majority. The rollout applies the same limit to its own restarts.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { fleetLabels, fleetName, membersSelector, ownedMeta } from './labels.ts';
import { disruptionBudgetName } from './names.ts';
import { faultTolerance } from './quorum-size.ts';

export function disruptionBudget(fleet: VaultFleet): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(
      fleet,
      disruptionBudgetName(fleetName(fleet)),
      fleetLabels(fleet, 'disruption-budget'),
    ),
    spec: {
      maxUnavailable: faultTolerance(fleet.spec.zones.length),
      selector: { matchLabels: membersSelector(fleet) },
      // A member that is not ready holds no vote that counts for availability: evicting it cannot
      // cost quorum, and refusing would block node drains exactly when the fleet is already degraded.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
