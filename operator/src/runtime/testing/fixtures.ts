// A custom resource type for runtime tests, shaped like the VaultFleet kind (namespaced, with
// a status subresource in the fake API server) without depending on the generated API types.
import type { ResourceType } from '../resource.ts';

export const testFleetType: ResourceType = {
  group: 'keyfleet.dev',
  version: 'v1alpha1',
  plural: 'vaultfleets',
  kind: 'VaultFleet',
  namespaced: true,
};
