// The fleet's attestation key and where its public half goes.
//
// Each fleet signs its deployment attestations with its own Ed25519 key, kept in the Secret
// `<fleet>-attestation-key` (seed and public key), created once when absent and never replaced,
// like the CA and admin keys (../../specs/secrets.ts): a new key would break every client's trust
// in the fleet. One key, one purpose: the admin key signs calls to members, the CA certifies HSMs,
// this key only attests. Retained with the data under retentionPolicy Retain, so a recreated fleet
// keeps the key its clients trust.
//
// The witnesses of the fleet's KeyDirectory learn the key from the ConfigMap
// `<kd>-attestation-signers` (data key `<fleet-namespace>.<fleet-name>`, 64 lowercase hex), which
// the operator applies with a field manager of the fleet's own, so fleets sharing a directory
// never remove each other's keys (kd-contract).

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fleetName, fleetNamespace } from '../../specs/labels.ts';
import { attestationKeySecretName, attestationSignersName } from '../../specs/names.ts';
import { retainedMeta } from '../../specs/retention.ts';
import type { RandomBytes } from '../../specs/secrets.ts';
import { type KeySecretStore, readKeySecret } from './provisioning.ts';

export const AttestationKeyData = {
  seed: 'attestation.ed25519.seed',
  publicKey: 'attestation.ed25519.pub',
} as const;

const SEED_BYTES = 32;

export function attestationKeySecret(fleet: VaultFleet, randomBytes: RandomBytes): V1Secret {
  const seed = randomBytes(SEED_BYTES);
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new Error(`randomBytes(${SEED_BYTES}) returned ${seed?.length ?? 'nothing'} bytes`);
  }
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: retainedMeta(fleet, attestationKeySecretName(fleetName(fleet)), 'attestation-key'),
    type: 'Opaque',
    immutable: true,
    data: {
      [AttestationKeyData.seed]: b64(seed),
      [AttestationKeyData.publicKey]: b64(ed25519.getPublicKey(seed)),
    },
  };
}

/** The signers ConfigMap data key of a fleet (what the witness looks its key up by). */
export function signerKey(fleet: VaultFleet): string {
  return `${fleetNamespace(fleet)}.${fleetName(fleet)}`;
}

/** The field manager that owns exactly this fleet's entry in the signers ConfigMap. */
export function signerFieldManager(fleet: VaultFleet): string {
  return `keyfleet-attestation-${signerKey(fleet)}`;
}

/**
 * The apply body of this fleet's entry in `<kd>-attestation-signers`; `publicKey` undefined
 * applies no data, which removes the entry this field manager owned (fleet deleted).
 */
export function attestationSignersPatch(
  fleet: VaultFleet,
  keyDirectory: string,
  publicKey: Uint8Array | undefined,
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: attestationSignersName(keyDirectory), namespace: fleetNamespace(fleet) },
    ...(publicKey === undefined
      ? {}
      : { data: { [signerKey(fleet)]: Buffer.from(publicKey).toString('hex') } }),
  };
}

/** The fleet's attestation seed, creating its Secret only if it does not exist yet. */
export async function ensureAttestationKey(
  fleet: VaultFleet,
  store: KeySecretStore,
  randomBytes: RandomBytes,
): Promise<{ seed: Uint8Array; created: boolean }> {
  const existing = await store.get(attestationKeySecretName(fleetName(fleet)));
  const secret = existing ?? (await store.createIfAbsent(attestationKeySecret(fleet, randomBytes)));
  return {
    seed: readKeySecret(secret, AttestationKeyData.seed, AttestationKeyData.publicKey),
    created: existing === undefined,
  };
}
