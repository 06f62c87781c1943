// The objects every fleet has, whatever its members are doing: applied (server-side apply) on
// every reconcile, so a hand edit is put back. Secrets are not here: they are created once
// (secrets.ts) and the trust bundle is built from them.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1PodDisruptionBudget, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import { disruptionBudget } from '../../specs/disruption-budget.ts';
import { memberNetworkPolicy, type NetworkPolicy } from '../../specs/network-policy.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from '../../specs/options.ts';
import { memberServiceAccount } from '../../specs/service-account.ts';
import { clientService, peerService } from '../../specs/services.ts';

export type FleetObject = V1ServiceAccount | V1Service | V1PodDisruptionBudget | NetworkPolicy;

/** In the order to apply them: the identity and the network before the pods need them. */
export function fleetObjects(fleet: VaultFleet, options: SpecOptions = DEFAULT_SPEC_OPTIONS): FleetObject[] {
  return [
    memberServiceAccount(fleet),
    memberNetworkPolicy(fleet, options),
    peerService(fleet),
    clientService(fleet),
    disruptionBudget(fleet),
  ];
}
