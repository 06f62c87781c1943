// Lookup proof of a username at the latest epoch of a snapshot (akd's lookup_with_info):
// existence of the latest version, existence of its marker version, non-existence of the
// stale label of the latest version, and the commitment nonce that opens the value.
import { lookupMarkerVersion } from '@keyfleet/sdk/akd/markers';
import type { LookupProof } from '@keyfleet/sdk/akd/types';
import { proveNodeLabel } from '@keyfleet/sdk/akd/vrf-labels';
import { commitmentNonce } from '@keyfleet/sdk/akd/whatsapp-v1';
import type { VrfKeys } from '../keys.ts';
import type { DirectorySnapshot, EpochHead } from '../storage/types.ts';
import type { TreeHasher } from '../tree/hasher.ts';
import { membershipProof, nonMembershipProof } from '../tree/proofs.ts';

export type ProofAtEpoch<P> = { readonly epoch: EpochHead; readonly proof: P };

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

export async function lookupProof(
  snap: DirectorySnapshot,
  hasher: TreeHasher,
  vrf: VrfKeys,
  username: Uint8Array,
): Promise<ProofAtEpoch<LookupProof>> {
  const epoch = await snap.latestEpoch();
  if (epoch === undefined) throw new NotFoundError('no epoch has been published yet');
  const state = (await snap.latestValueStates([username])).values().next().value;
  if (state === undefined) throw new NotFoundError('username not found');
  const version = BigInt(state.version);
  const existence = proveNodeLabel(vrf.expanded, username, 'fresh', version);
  const marker = proveNodeLabel(vrf.expanded, username, 'fresh', lookupMarkerVersion(version));
  const freshness = proveNodeLabel(vrf.expanded, username, 'stale', version);
  return {
    epoch,
    proof: {
      epoch: BigInt(state.epoch),
      value: state.value,
      version,
      existenceVrfProof: existence.proof,
      existenceProof: await membershipProof(snap, hasher, existence.label),
      markerVrfProof: marker.proof,
      markerProof: await membershipProof(snap, hasher, marker.label),
      freshnessVrfProof: freshness.proof,
      freshnessProof: await nonMembershipProof(snap, hasher, freshness.label),
      commitmentNonce: commitmentNonce(vrf.commitmentKey, existence.label, version, state.value),
    },
  };
}
