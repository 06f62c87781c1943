// The identity member pods run as. Members never call the Kubernetes API, so no token is mounted
// (the pod says so too) and no Role is bound to it.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ServiceAccount } from '@kubernetes/client-node';
import { fleetLabels, fleetName, ownedMeta } from './labels.ts';
import { serviceAccountName } from './names.ts';

export function memberServiceAccount(fleet: VaultFleet): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: ownedMeta(fleet, serviceAccountName(fleetName(fleet)), fleetLabels(fleet, 'service-account')),
    automountServiceAccountToken: false,
  };
}
