// The publisher's hot path: VRF node labels with the variable-base scalar multiplication done
// by libsodium (WASM, constant time, ~3x faster than @noble here). Everything else — hashing
// to the curve, the VRF input, the output hash — is the sdk's ECVRF; labels.test.ts checks
// that both give the same labels. Labels only: proofs are still made by the sdk.
import { leafLabel, type NodeLabel } from '@keyfleet/sdk/akd/label';
import { type Freshness, vrfInput } from '@keyfleet/sdk/akd/whatsapp-v1';
import {
  encodeToCurveTai,
  VRF_PROOF_BYTES,
  type VrfSecretKey,
  vrfProofToHash,
} from '@keyfleet/sdk/vrf/ecvrf';
import { numberToBytesLE } from '@noble/curves/utils.js';
import sodium from 'libsodium-wrappers-sumo';

await sodium.ready;

export type SodiumLabelKey = { readonly scalar: Uint8Array; readonly publicKey: Uint8Array };

export function sodiumLabelKey(key: VrfSecretKey): SodiumLabelKey {
  return { scalar: numberToBytesLE(key.scalar, 32), publicKey: key.publicKey.bytes };
}

export function deriveNodeLabelSodium(
  key: SodiumLabelKey,
  username: Uint8Array,
  freshness: Freshness,
  version: bigint,
): NodeLabel {
  const h = encodeToCurveTai(key.publicKey, vrfInput(username, freshness, version));
  const gamma = sodium.crypto_scalarmult_ed25519_noclamp(key.scalar, h.toBytes());
  // ECVRF_proof_to_hash reads only Gamma from a proof; c and s are zero here.
  const pi = new Uint8Array(VRF_PROOF_BYTES);
  pi.set(gamma, 0);
  return leafLabel(vrfProofToHash(pi).subarray(0, 32));
}
