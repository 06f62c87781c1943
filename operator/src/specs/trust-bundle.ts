// The trust bundle every member mounts: the public keys it checks others against.
//   manufacturer-ca.ed25519.pub  verifies the certificate of every peer's HSM identity key
//   operator-admin.ed25519.pub   verifies the operator's signed admin calls
// Hex text, so a person can compare it with `kubectl get secret` output and the attestation.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { bytesToHex } from '@noble/hashes/utils.js';
import { fleetLabels, fleetName, ownedMeta } from './labels.ts';
import { trustBundleName } from './names.ts';
import { DataKey } from './vault-contract.ts';

export interface TrustKeys {
  readonly manufacturerCaPublicKey: Uint8Array;
  readonly operatorAdminPublicKey: Uint8Array;
}

function hexKey(key: Uint8Array, what: string): string {
  if (key.length !== 32)
    throw new Error(`${what} must be a 32-byte Ed25519 public key, got ${key.length} bytes`);
  return bytesToHex(key);
}

export function trustBundle(fleet: VaultFleet, keys: TrustKeys): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(fleet, trustBundleName(fleetName(fleet)), fleetLabels(fleet, 'trust-bundle')),
    immutable: true,
    data: {
      [DataKey.manufacturerCaPublicKey]: hexKey(keys.manufacturerCaPublicKey, 'the manufacturer CA key'),
      [DataKey.operatorAdminPublicKey]: hexKey(keys.operatorAdminPublicKey, 'the operator admin key'),
    },
  };
}
