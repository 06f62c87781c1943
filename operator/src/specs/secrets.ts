// The fleet's Secrets. Randomness is a parameter, so these builders stay pure and testable; the
// reconcile passes a CSPRNG (crypto.getRandomValues) and creates each Secret only when it does not
// exist yet: the Secrets are immutable, and building one again yields a different key.
//
// - sealing key, one per member: the 32-byte AEAD key that seals the member's HSM keys at rest on
//   its volume. Only that member's pod mounts it.
// - manufacturer CA: the Ed25519 key of the simulated HSM manufacturer. The operator alone reads it,
//   to certify a member's HSM identity key when the member is provisioned; no pod mounts it. It lives
//   in the fleet's namespace (an owner reference cannot cross namespaces), so whoever may read
//   Secrets there could certify a rogue HSM: grant that to nobody but the operator.
// - operator admin key: the Ed25519 key the operator signs its admin calls to members with
//   (membership changes, leadership transfer). Kept apart from the CA key: one key, one purpose.
// The public halves reach the members through the trust bundle (trust-bundle.ts).

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { type Component, fleetName } from './labels.ts';
import { manufacturerCaSecretName, operatorAdminKeySecretName, sealingKeySecretName } from './names.ts';
import { retainedMeta } from './retention.ts';
import { DataKey } from './vault-contract.ts';

/** Cryptographically secure random bytes; injected. */
export type RandomBytes = (length: number) => Uint8Array;

export const SEALING_KEY_BYTES = 32;
const ED25519_SEED_BYTES = 32;

/** `length` bytes from the injected CSPRNG, checked (a short answer is a broken RNG, not a key). */
export function random(randomBytes: RandomBytes, length: number): Uint8Array {
  const bytes = randomBytes(length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new Error(`randomBytes(${length}) returned ${bytes?.length ?? 'nothing'} bytes`);
  }
  return bytes;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** An immutable Opaque Secret holding `data` (base64 as the API wants it). */
export function immutableSecret(meta: V1Secret['metadata'], data: Record<string, Uint8Array>): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta,
    type: 'Opaque',
    immutable: true,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, base64(v)])),
  };
}

export function sealingKeySecret(fleet: VaultFleet, zone: string, randomBytes: RandomBytes): V1Secret {
  const meta = retainedMeta(fleet, sealingKeySecretName(fleetName(fleet), zone), 'sealing-key', zone);
  return immutableSecret(meta, { [DataKey.sealingKey]: random(randomBytes, SEALING_KEY_BYTES) });
}

function ed25519KeySecret(
  fleet: VaultFleet,
  name: string,
  component: Component,
  keys: { seed: string; publicKey: string },
  randomBytes: RandomBytes,
): V1Secret {
  const seed = random(randomBytes, ED25519_SEED_BYTES);
  return immutableSecret(retainedMeta(fleet, name, component), {
    [keys.seed]: seed,
    [keys.publicKey]: ed25519.getPublicKey(seed),
  });
}

export function manufacturerCaSecret(fleet: VaultFleet, randomBytes: RandomBytes): V1Secret {
  const keys = { seed: DataKey.manufacturerCaSeed, publicKey: DataKey.manufacturerCaPublicKey };
  return ed25519KeySecret(
    fleet,
    manufacturerCaSecretName(fleetName(fleet)),
    'manufacturer-ca',
    keys,
    randomBytes,
  );
}

export function operatorAdminKeySecret(fleet: VaultFleet, randomBytes: RandomBytes): V1Secret {
  const keys = { seed: DataKey.operatorAdminSeed, publicKey: DataKey.operatorAdminPublicKey };
  const name = operatorAdminKeySecretName(fleetName(fleet));
  return ed25519KeySecret(fleet, name, 'operator-admin-key', keys, randomBytes);
}

/** The 32-byte value of `key` in a Secret as read from the API, or an error naming what is wrong. */
export function secretKeyBytes(s: V1Secret, key: string): Uint8Array {
  const encoded = s.data?.[key];
  const where = `Secret ${s.metadata?.namespace}/${s.metadata?.name} key ${key}`;
  if (encoded === undefined) throw new Error(`${where} is missing`);
  const bytes = new Uint8Array(Buffer.from(encoded, 'base64'));
  if (bytes.length !== 32) throw new Error(`${where} holds ${bytes.length} bytes, expected 32`);
  return bytes;
}
