// Key-history proof of a username at the latest epoch of a snapshot (akd's key_history): one
// update proof per version (newest first), existence of the past marker versions and
// non-existence of the future marker versions up to the current epoch.
import { getMarkerVersions } from '@keyfleet/sdk/akd/markers';
import type {
  HistoryParams,
  HistoryProof,
  MembershipProof,
  NonMembershipProof,
  UpdateProof,
} from '@keyfleet/sdk/akd/types';
import { proveNodeLabel } from '@keyfleet/sdk/akd/vrf-labels';
import { commitmentNonce } from '@keyfleet/sdk/akd/whatsapp-v1';
import type { VrfKeys } from '../keys.ts';
import type { DirectorySnapshot, ValueState } from '../storage/types.ts';
import type { TreeHasher } from '../tree/hasher.ts';
import { membershipProof, nonMembershipProof } from '../tree/proofs.ts';
import { NotFoundError, type ProofAtEpoch } from './lookup.ts';

/** The most versions one history response carries; older ones need a bounded request. */
export const MAX_HISTORY_VERSIONS = 1000;

async function updateProof(
  snap: DirectorySnapshot,
  hasher: TreeHasher,
  vrf: VrfKeys,
  state: ValueState,
): Promise<UpdateProof> {
  const version = BigInt(state.version);
  const existence = proveNodeLabel(vrf.expanded, state.username, 'fresh', version);
  const previous =
    version > 1n ? proveNodeLabel(vrf.expanded, state.username, 'stale', version - 1n) : undefined;
  return {
    epoch: BigInt(state.epoch),
    value: state.value,
    version,
    existenceVrfProof: existence.proof,
    existenceProof: await membershipProof(snap, hasher, existence.label),
    previousVersionVrfProof: previous?.proof,
    previousVersionProof: previous ? await membershipProof(snap, hasher, previous.label) : undefined,
    commitmentNonce: commitmentNonce(vrf.commitmentKey, existence.label, version, state.value),
  };
}

export async function historyProof(
  snap: DirectorySnapshot,
  hasher: TreeHasher,
  vrf: VrfKeys,
  username: Uint8Array,
  params: HistoryParams,
): Promise<ProofAtEpoch<HistoryProof>> {
  const epoch = await snap.latestEpoch();
  if (epoch === undefined) throw new NotFoundError('no epoch has been published yet');
  const limit = params.kind === 'complete' ? MAX_HISTORY_VERSIONS + 1 : params.n;
  const states = await snap.valueStates(username, limit);
  if (states.length === 0) throw new NotFoundError('username not found');
  if (params.kind === 'complete' && states.length > MAX_HISTORY_VERSIONS) {
    throw new RangeError(`more than ${MAX_HISTORY_VERSIONS} versions: ask for the most recent ones`);
  }
  const updateProofs: UpdateProof[] = [];
  for (const s of states) updateProofs.push(await updateProof(snap, hasher, vrf, s));
  const start = BigInt(states[states.length - 1]!.version);
  const end = BigInt(states[0]!.version);
  const markers = getMarkerVersions(start, end, BigInt(epoch.epoch));
  const pastMarkerVrfProofs: Uint8Array[] = [];
  const existenceOfPastMarkerProofs: MembershipProof[] = [];
  for (const v of markers.past) {
    const p = proveNodeLabel(vrf.expanded, username, 'fresh', v);
    pastMarkerVrfProofs.push(p.proof);
    existenceOfPastMarkerProofs.push(await membershipProof(snap, hasher, p.label));
  }
  const futureMarkerVrfProofs: Uint8Array[] = [];
  const nonExistenceOfFutureMarkerProofs: NonMembershipProof[] = [];
  for (const v of markers.future) {
    const p = proveNodeLabel(vrf.expanded, username, 'fresh', v);
    futureMarkerVrfProofs.push(p.proof);
    nonExistenceOfFutureMarkerProofs.push(await nonMembershipProof(snap, hasher, p.label));
  }
  return {
    epoch,
    proof: {
      updateProofs,
      pastMarkerVrfProofs,
      existenceOfPastMarkerProofs,
      futureMarkerVrfProofs,
      nonExistenceOfFutureMarkerProofs,
    },
  };
}
