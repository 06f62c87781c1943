// A VaultFleet as the API server would hand it to the operator (defaults applied), for tests.

import type { VaultFleet, VaultFleetSpec } from '@keyfleet/sdk/api/index';

export const SEVEN_ZONES = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'];

export function testFleet(
  spec: Partial<VaultFleetSpec> = {},
  name = 'backups',
  namespace = 'vaults',
): VaultFleet {
  return {
    apiVersion: 'keyfleet.dev/v1alpha1',
    kind: 'VaultFleet',
    metadata: { name, namespace, uid: '6f1c1e2a-0000-4000-8000-000000000001', generation: 3 },
    spec: {
      zones: SEVEN_ZONES,
      image: 'ghcr.io/keyfleet/vault-node:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      guessLimit: 10,
      storage: { size: '1Gi', storageClassName: 'standard', retentionPolicy: 'Retain' },
      attestation: { validity: '720h' },
      updateStrategy: { maxUnavailable: 1 },
      paused: false,
      ...spec,
    },
  };
}
