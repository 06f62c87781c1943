// The PersistentVolumeClaim of one member: its Raft log, snapshots and sealed HSM keys.
// It outlives the pod (a restarted member catches up from where it was) and, under the Retain
// policy, the fleet (retention.ts).

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { fleetName } from './labels.ts';
import { memberClaimName } from './names.ts';
import { retainedMeta } from './retention.ts';

export function memberClaim(fleet: VaultFleet, zone: string): V1PersistentVolumeClaim {
  const { size, storageClassName } = fleet.spec.storage;
  const claim: V1PersistentVolumeClaim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: retainedMeta(fleet, memberClaimName(fleetName(fleet), zone), 'member', zone),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      volumeMode: 'Filesystem',
    },
  };
  // Absent (not '') selects the cluster's default class; '' would ask for no class at all.
  if (storageClassName !== undefined && storageClassName !== '')
    claim.spec!.storageClassName = storageClassName;
  return claim;
}
