/**
 * Label derivation through the VRF, as akd does it: the tree label of (username, version,
 * freshness) is the first 32 bytes of ECVRF(vrfInput(username, freshness, version)),
 * with length 256. The VRF runs on the sdk's fast backend (vrf/backend.ts: curve25519-dalek WASM
 * if built, else libsodium; both cross-checked against the @noble reference in vrf/ecvrf.ts):
 * publishers derive a label per leaf and clients verify
 * three VRF proofs per lookup, so this is the hot path of both.
 */

import { vrfEvaluateFast, vrfProveFast, vrfVerifyFast } from '../vrf/backend.ts';
import { VrfError, type VrfPublicKey, type VrfSecretKey, vrfProofToHash } from '../vrf/ecvrf.ts';
import { AkdError } from './errors.ts';
import { formatLabel, labelEquals, type NodeLabel } from './label.ts';
import { type Freshness, vrfInput } from './whatsapp-v1.ts';

function labelFromOutput(beta: Uint8Array): NodeLabel {
  return { labelVal: beta.slice(0, 32), labelLen: 256 };
}

/** Server side: the node label of (username, freshness, version). */
export function deriveNodeLabel(
  vrfKey: Uint8Array | VrfSecretKey,
  username: Uint8Array,
  freshness: Freshness,
  version: bigint,
): NodeLabel {
  return labelFromOutput(vrfEvaluateFast(vrfKey, vrfInput(username, freshness, version)));
}

/** Server side: the node label and its 80-byte VRF proof. */
export function proveNodeLabel(
  vrfKey: Uint8Array | VrfSecretKey,
  username: Uint8Array,
  freshness: Freshness,
  version: bigint,
): { label: NodeLabel; proof: Uint8Array } {
  const proof = vrfProveFast(vrfKey, vrfInput(username, freshness, version));
  return { label: labelFromOutput(vrfProofToHash(proof)), proof };
}

/** The node label a VRF proof commits to (no verification). */
export function nodeLabelFromVrfProof(proof: Uint8Array): NodeLabel {
  return labelFromOutput(vrfProofToHash(proof));
}

/**
 * Client side: checks that `proof` is a valid VRF proof for (username, freshness, version)
 * and that its output is `expected`. `what` names the proof in error messages.
 */
export function verifyNodeLabel(
  vrfPublicKey: VrfPublicKey,
  username: Uint8Array,
  freshness: Freshness,
  version: bigint,
  proof: Uint8Array,
  expected: NodeLabel,
  what: string,
): void {
  let beta: Uint8Array;
  try {
    beta = vrfVerifyFast(vrfPublicKey, proof, vrfInput(username, freshness, version));
  } catch (e) {
    if (e instanceof VrfError) {
      throw new AkdError(
        'vrf',
        `${what}: VRF proof for ${freshness} version ${version} is invalid: ${e.message}`,
        {
          cause: e,
        },
      );
    }
    throw e;
  }
  const label = labelFromOutput(beta);
  if (!labelEquals(label, expected)) {
    throw new AkdError(
      'vrf',
      `${what}: VRF output for ${freshness} version ${version} is ${formatLabel(label)}, but the proof is for label ${formatLabel(expected)}`,
    );
  }
}
