// What survives the deletion of a fleet. With Retain, the data a person needs to recover escrowed
// records (each member's claim and the sealing key that opens the HSM keys on it) and the CA the
// members' certificates chain to carry no owner reference, so the garbage collector leaves them;
// a label says why they are still there. With Delete they are owned like everything else.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { type Component, fleetLabels, Label, memberLabels, ownedMeta } from './labels.ts';

export function retainedMeta(
  fleet: VaultFleet,
  name: string,
  component: Component,
  zone?: string,
): V1ObjectMeta {
  const policy = fleet.spec.storage.retentionPolicy;
  const labels = zone === undefined ? fleetLabels(fleet, component) : memberLabels(fleet, component, zone);
  labels[Label.retentionPolicy] = policy;
  return ownedMeta(fleet, name, labels, policy === 'Delete');
}
