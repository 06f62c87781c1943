// Secret keys of a directory, loaded from files (Kubernetes Secrets mounted as files). A key
// file holds 32 bytes: raw, or as 64 hex characters. No key material is ever logged.
import { readFileSync } from 'node:fs';
import { commitmentKeyFromVrfSecret } from '@keyfleet/sdk/akd/whatsapp-v1';
import { type VrfSecretKey, vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';

export type VrfKeys = {
  /** the raw 32-byte VRF secret (akd's VRFKeyStorage::retrieve), needed by label workers */
  readonly secret: Uint8Array;
  readonly expanded: VrfSecretKey;
  readonly publicKey: Uint8Array;
  /** akd derives the commitment key from the VRF secret */
  readonly commitmentKey: Uint8Array;
};

export type SigningKeys = { readonly secret: Uint8Array; readonly publicKey: Uint8Array };

export function parseKeyBytes(content: Uint8Array, what: string): Uint8Array {
  if (content.length === 32) return Uint8Array.from(content);
  const text = Buffer.from(content).toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return hexToBytes(text);
  throw new Error(`${what}: expected 32 raw bytes or 64 hex characters`);
}

export function vrfKeys(secret: Uint8Array): VrfKeys {
  const expanded = vrfSecretKey(secret);
  return {
    secret,
    expanded,
    publicKey: expanded.publicKey.bytes,
    commitmentKey: commitmentKeyFromVrfSecret(secret),
  };
}

export function signingKeys(secret: Uint8Array): SigningKeys {
  return { secret, publicKey: ed25519.getPublicKey(secret) };
}

export function loadVrfKeys(path: string): VrfKeys {
  return vrfKeys(parseKeyBytes(readFileSync(path), `VRF key file ${path}`));
}

export function loadSigningKeys(path: string): SigningKeys {
  return signingKeys(parseKeyBytes(readFileSync(path), `signing key file ${path}`));
}
