// Labels, selectors and owner references shared by everything a VaultFleet owns.
// The recommended app.kubernetes.io labels, plus keyfleet.dev/zone on per-member objects. Selectors
// use only labels the operator sets and a user has no reason to change.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { labelValue } from './names.ts';

export const Label = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  zone: 'keyfleet.dev/zone',
  retentionPolicy: 'keyfleet.dev/retention-policy',
} as const;

export const APP_NAME = 'vault-node';
export const PART_OF = 'keyfleet';
export const MANAGED_BY = 'keyfleet-operator';

/** What an object is to the fleet. `member` objects exist once per zone. */
export type Component =
  | 'member'
  | 'peers'
  | 'client'
  | 'disruption-budget'
  | 'network-policy'
  | 'service-account'
  | 'sealing-key'
  | 'manufacturer-ca'
  | 'operator-admin-key'
  | 'trust-bundle'
  | 'attestation-key'
  | 'attestation'
  | 'member-certificates';

/** Annotations the operator sets and later reads back to compare observed with desired. */
export const Annotation = {
  /** Hash of the member configuration that requires a restart to change (config-hash.ts). */
  configHash: 'keyfleet.dev/config-hash',
} as const;

export function fleetLabels(fleet: VaultFleet, component: Component): Record<string, string> {
  return {
    [Label.name]: APP_NAME,
    [Label.instance]: labelValue(fleetName(fleet)),
    [Label.component]: component,
    [Label.partOf]: PART_OF,
    [Label.managedBy]: MANAGED_BY,
  };
}

export function memberLabels(fleet: VaultFleet, component: Component, zone: string): Record<string, string> {
  return { ...fleetLabels(fleet, component), [Label.zone]: zone };
}

/** Selects every member pod of the fleet (Services, disruption budget, network policy). */
export function membersSelector(fleet: VaultFleet): Record<string, string> {
  return {
    [Label.name]: APP_NAME,
    [Label.instance]: labelValue(fleetName(fleet)),
    [Label.component]: 'member',
  };
}

/** Selects the one member pod of `zone`. */
export function memberSelector(fleet: VaultFleet, zone: string): Record<string, string> {
  return { ...membersSelector(fleet), [Label.zone]: zone };
}

/**
 * The reference that makes the fleet the controller of an object: the garbage collector deletes the
 * object with the fleet, and blockOwnerDeletion keeps foreground deletion of the fleet waiting for it.
 */
export function fleetOwnerReference(fleet: VaultFleet): V1OwnerReference {
  const uid = fleet.metadata.uid;
  if (uid === undefined || uid === '') {
    throw new Error(
      `VaultFleet ${fleetName(fleet)} has no metadata.uid: owner references need the object as read from the API server`,
    );
  }
  return {
    apiVersion: fleet.apiVersion,
    kind: fleet.kind,
    name: fleetName(fleet),
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function fleetName(fleet: VaultFleet): string {
  const name = fleet.metadata.name;
  if (name === undefined || name === '') throw new Error('VaultFleet has no metadata.name');
  return name;
}

export function fleetNamespace(fleet: VaultFleet): string {
  const namespace = fleet.metadata.namespace;
  if (namespace === undefined || namespace === '') {
    throw new Error(`VaultFleet ${fleetName(fleet)} has no metadata.namespace`);
  }
  return namespace;
}

/** Metadata of an object the fleet controls: its name, namespace, labels and owner reference. */
export function ownedMeta(
  fleet: VaultFleet,
  name: string,
  labels: Record<string, string>,
  owned = true,
): V1ObjectMeta {
  const meta: V1ObjectMeta = { name, namespace: fleetNamespace(fleet), labels };
  if (owned) meta.ownerReferences = [fleetOwnerReference(fleet)];
  return meta;
}
