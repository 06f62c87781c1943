/**
 * Verifiers for akd lookup and key-history proofs (akd_core/src/verify), WhatsApp v1.
 *
 * They accept every proof akd 0.13 accepts and produces, and additionally check the shape
 * of Merkle paths, which akd leaves to the hash alone:
 *   - a path starts at the root label, each parent label is a strict prefix of the next
 *     label on the path and `direction` is the next bit; a sibling lies on the other side
 *     of its parent (or is the empty placeholder, at the root only);
 *   - a non-membership proof's children lie on their sides of the longest prefix and
 *     neither is a prefix of the absent label. akd 0.13 does not check the latter, so it
 *     accepts a "non-membership" proof for a label that IS in the tree, built from any
 *     ancestor of that label (see test/interop/README.md);
 *   - version 0 is rejected with an error (akd panics), and update/lookup epochs must not
 *     exceed the current epoch.
 */
import { type VrfPublicKey, vrfPublicKey } from '../vrf/ecvrf.ts';
import { bytesToHex, equalBytes, U64_MAX } from './bytes.ts';
import { AkdError } from './errors.ts';
import {
  EMPTY_LABEL,
  formatLabel,
  isPrefixOf,
  labelEquals,
  longestCommonPrefix,
  prefixOrdering,
  ROOT_LABEL,
} from './label.ts';
import { getMarkerVersions, lookupMarkerVersion } from './markers.ts';
import type {
  HistoryProof,
  HistoryVerificationParams,
  LookupProof,
  MembershipProof,
  NonMembershipProof,
  UpdateProof,
  VerifyResult,
} from './types.ts';
import { verifyNodeLabel } from './vrf-labels.ts';
import {
  DIGEST_BYTES,
  EMPTY_NODE_HASH,
  hashLeafWithCommitment,
  hashLeafWithValue,
  labelValue,
  parentHash,
  rootHashFromValue,
  STALE_AZKS_VALUE,
} from './whatsapp-v1.ts';

/** At most one step per bit of a 256-bit label. */
export const MAX_PATH_LENGTH = 256;

function checkDigest(d: Uint8Array, what: string): void {
  if (!(d instanceof Uint8Array) || d.length !== DIGEST_BYTES) {
    throw new AkdError('input', `${what} must be ${DIGEST_BYTES} bytes`);
  }
}

function checkU64(n: bigint, what: string): void {
  if (typeof n !== 'bigint' || n < 0n || n > U64_MAX)
    throw new AkdError('input', `${what} must be a u64 bigint`);
}

function checkVrfKey(key: Uint8Array | VrfPublicKey): VrfPublicKey {
  try {
    return vrfPublicKey(key);
  } catch (e) {
    throw new AkdError('input', `invalid VRF public key: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks a Merkle membership proof against a root hash. `what` names the proof in errors
 * (e.g. "lookup proof: existence proof for version 3") and `where` the root ("at epoch 7").
 */
export function verifyMembership(
  rootHash: Uint8Array,
  proof: MembershipProof,
  what = 'membership proof',
  where = '',
): void {
  const at = where ? ` ${where}` : '';
  const steps = proof.siblingProofs;
  if (steps.length > MAX_PATH_LENGTH) {
    throw new AkdError(
      'membership',
      `${what}: path of ${steps.length} steps is longer than ${MAX_PATH_LENGTH}`,
    );
  }
  if (steps.length === 0) {
    if (!labelEquals(proof.label, ROOT_LABEL)) {
      throw new AkdError('membership', `${what}: empty path for non-root label ${formatLabel(proof.label)}`);
    }
  } else if (!labelEquals((steps[0] as (typeof steps)[0]).label, ROOT_LABEL)) {
    throw new AkdError('membership', `${what}: path does not start at the root`);
  }
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as (typeof steps)[0];
    const child = i + 1 < steps.length ? (steps[i + 1] as (typeof steps)[0]).label : proof.label;
    const side = prefixOrdering(step.label, child);
    if (side === null || side !== step.direction) {
      throw new AkdError(
        'membership',
        `${what}: step ${i} of the path: ${formatLabel(child)} is not on side ${step.direction} of ${formatLabel(step.label)}`,
      );
    }
    const sib = step.sibling.label;
    const sibOk =
      (i === 0 && labelEquals(sib, EMPTY_LABEL)) || prefixOrdering(step.label, sib) === ((1 - side) as 0 | 1);
    if (!sibOk) {
      throw new AkdError(
        'membership',
        `${what}: step ${i} of the path: sibling ${formatLabel(sib)} is not on the other side of ${formatLabel(step.label)}`,
      );
    }
    checkDigest(step.sibling.value, `${what}: sibling value`);
  }
  checkDigest(proof.hashVal, `${what}: node value`);
  let value = proof.hashVal;
  let label = proof.label;
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i] as (typeof steps)[0];
    const here = labelValue(label);
    const there = labelValue(step.sibling.label);
    value =
      step.direction === 0
        ? parentHash(value, here, step.sibling.value, there)
        : parentHash(step.sibling.value, there, value, here);
    label = step.label;
  }
  const root = rootHashFromValue(value);
  if (!equalBytes(root, rootHash)) {
    throw new AkdError(
      'membership',
      `${what} does not hash to root${at} (computed ${bytesToHex(root)}, expected ${bytesToHex(rootHash)})`,
    );
  }
}

/** Checks a non-membership proof (the label is absent from the tree) against a root hash. */
export function verifyNonMembership(
  rootHash: Uint8Array,
  proof: NonMembershipProof,
  what = 'non-membership proof',
  where = '',
): void {
  const [c0, c1] = proof.longestPrefixChildren;
  if (labelEquals(proof.label, c0.label) || labelEquals(proof.label, c1.label)) {
    throw new AkdError('non-membership', `${what}: the label ${formatLabel(proof.label)} is in the tree`);
  }
  if (!isPrefixOf(proof.longestPrefix, proof.label)) {
    throw new AkdError('non-membership', `${what}: the longest prefix is not a prefix of the label`);
  }
  let lcp = longestCommonPrefix(c0.label, c1.label);
  if (labelEquals(lcp, EMPTY_LABEL)) lcp = ROOT_LABEL; // the root with a missing child
  if (!labelEquals(proof.longestPrefix, lcp)) {
    throw new AkdError(
      'non-membership',
      `${what}: the longest prefix is not the common prefix of its children`,
    );
  }
  const isRoot = labelEquals(lcp, ROOT_LABEL);
  for (const [i, c] of [c0, c1].entries()) {
    const placeholder = isRoot && labelEquals(c.label, EMPTY_LABEL);
    if (!placeholder && prefixOrdering(lcp, c.label) !== i) {
      throw new AkdError('non-membership', `${what}: child ${i} is not on side ${i} of the longest prefix`);
    }
    if (placeholder && !equalBytes(c.value, EMPTY_NODE_HASH)) {
      throw new AkdError('non-membership', `${what}: empty child ${i} has a value`);
    }
    if (!placeholder && isPrefixOf(c.label, proof.label)) {
      throw new AkdError(
        'non-membership',
        `${what}: child ${formatLabel(c.label)} is a prefix of the label, so the longest prefix is not the longest`,
      );
    }
    checkDigest(c.value, `${what}: child value`);
  }
  const lcpHash = parentHash(c0.value, labelValue(c0.label), c1.value, labelValue(c1.label));
  const mp = proof.longestPrefixMembershipProof;
  if (!labelEquals(mp.label, lcp) || !equalBytes(mp.hashVal, lcpHash)) {
    throw new AkdError('non-membership', `${what}: the longest prefix's children do not hash to its value`);
  }
  verifyMembership(rootHash, mp, `${what} (path to the longest prefix)`, where);
}

/** Verifies a lookup proof of `username` against the root at `currentEpoch`. */
export function lookupVerify(
  vrfPublicKeyBytes: Uint8Array | VrfPublicKey,
  rootHash: Uint8Array,
  currentEpoch: bigint,
  username: Uint8Array,
  proof: LookupProof,
): VerifyResult {
  const pk = checkVrfKey(vrfPublicKeyBytes);
  checkDigest(rootHash, 'root hash');
  checkU64(currentEpoch, 'current epoch');
  const at = `at epoch ${currentEpoch}`;
  const v = proof.version;
  if (v < 1n) throw new AkdError('lookup', `lookup proof: version ${v} is invalid (versions start at 1)`);
  if (v > currentEpoch) {
    throw new AkdError(
      'lookup',
      `lookup proof: version ${v} is greater than the current epoch ${currentEpoch}`,
    );
  }
  if (proof.epoch < 1n || proof.epoch > currentEpoch) {
    throw new AkdError('lookup', `lookup proof: update epoch ${proof.epoch} is not in 1..${currentEpoch}`);
  }
  // Hash checks first (cheap), VRF checks last (a few ms each).
  const ex = `lookup proof: existence proof for version ${v}`;
  if (
    !equalBytes(
      hashLeafWithValue(proof.value, proof.epoch, proof.commitmentNonce),
      proof.existenceProof.hashVal,
    )
  ) {
    throw new AkdError(
      'lookup',
      `${ex}: value and commitment nonce do not match the leaf (committed at epoch ${proof.epoch})`,
    );
  }
  verifyMembership(rootHash, proof.existenceProof, ex, at);
  const marker = lookupMarkerVersion(v);
  const mk = `lookup proof: marker proof for version ${marker}`;
  verifyMembership(rootHash, proof.markerProof, mk, at);
  // freshness: the stale label of `version` is absent
  const fr = `lookup proof: freshness proof (version ${v} not yet superseded)`;
  verifyNonMembership(rootHash, proof.freshnessProof, fr, at);
  verifyNodeLabel(pk, username, 'fresh', v, proof.existenceVrfProof, proof.existenceProof.label, ex);
  verifyNodeLabel(pk, username, 'fresh', marker, proof.markerVrfProof, proof.markerProof.label, mk);
  verifyNodeLabel(pk, username, 'stale', v, proof.freshnessVrfProof, proof.freshnessProof.label, fr);
  return { epoch: proof.epoch, version: v, value: proof.value };
}

function checkHistoryShape(currentEpoch: bigint, proof: HistoryProof, params: HistoryVerificationParams) {
  const ups = proof.updateProofs;
  const n = ups.length;
  if (n === 0) throw new AkdError('history', `history proof: no update proofs at epoch ${currentEpoch}`);
  for (let i = 1; i < n; i++) {
    const prev = (ups[i - 1] as UpdateProof).version;
    const cur = (ups[i] as UpdateProof).version;
    if (cur + 1n !== prev) {
      throw new AkdError(
        'history',
        `history proof: update proofs must be for consecutive decreasing versions, but version ${prev} (index ${i - 1}) is followed by version ${cur}`,
      );
    }
  }
  const endVersion = (ups[0] as UpdateProof).version;
  const startVersion = (ups[n - 1] as UpdateProof).version;
  if (startVersion < 1n) {
    throw new AkdError('history', `history proof: version ${startVersion} is invalid (versions start at 1)`);
  }
  if (endVersion > currentEpoch) {
    throw new AkdError(
      'history',
      `history proof: version ${endVersion} is greater than the current epoch ${currentEpoch}`,
    );
  }
  const hp = params.historyParams;
  if (hp.kind === 'complete') {
    if (startVersion !== 1n) {
      throw new AkdError(
        'history',
        `history proof: a complete history must start at version 1, this one starts at version ${startVersion}`,
      );
    }
  } else {
    if (!Number.isSafeInteger(hp.n) || hp.n < 0)
      throw new AkdError('input', `history params: bad count ${hp.n}`);
    if (n > hp.n) throw new AkdError('history', `history proof: expected at most ${hp.n} updates, got ${n}`);
    if (n < hp.n && startVersion !== 1n) {
      throw new AkdError(
        'history',
        `history proof: ${n} updates, fewer than the ${hp.n} asked for, but they do not reach back to version 1`,
      );
    }
  }
  const markers = getMarkerVersions(startVersion, endVersion, currentEpoch);
  if (markers.past.length !== proof.pastMarkerVrfProofs.length) {
    throw new AkdError(
      'history',
      `history proof: expected ${markers.past.length} past marker VRF proofs, got ${proof.pastMarkerVrfProofs.length}`,
    );
  }
  if (markers.past.length !== proof.existenceOfPastMarkerProofs.length) {
    throw new AkdError(
      'history',
      `history proof: expected ${markers.past.length} past marker proofs, got ${proof.existenceOfPastMarkerProofs.length}`,
    );
  }
  if (markers.future.length !== proof.futureMarkerVrfProofs.length) {
    throw new AkdError(
      'history',
      `history proof: expected ${markers.future.length} future marker VRF proofs, got ${proof.futureMarkerVrfProofs.length}`,
    );
  }
  if (markers.future.length !== proof.nonExistenceOfFutureMarkerProofs.length) {
    throw new AkdError(
      'history',
      `history proof: expected ${markers.future.length} future marker proofs, got ${proof.nonExistenceOfFutureMarkerProofs.length}`,
    );
  }
  return markers;
}

/** Verifies a key-history proof of `username` against the root at `currentEpoch`. Newest first. */
export function keyHistoryVerify(
  vrfPublicKeyBytes: Uint8Array | VrfPublicKey,
  rootHash: Uint8Array,
  currentEpoch: bigint,
  username: Uint8Array,
  proof: HistoryProof,
  params: HistoryVerificationParams = { historyParams: { kind: 'complete' } },
): VerifyResult[] {
  const pk = checkVrfKey(vrfPublicKeyBytes);
  checkDigest(rootHash, 'root hash');
  checkU64(currentEpoch, 'current epoch');
  const at = `at epoch ${currentEpoch}`;
  const markers = checkHistoryShape(currentEpoch, proof, params);
  const results: VerifyResult[] = [];
  // VRF checks are collected and run after all hash checks (cheap ones first).
  const labelChecks: (() => void)[] = [];
  let previousEpoch: bigint | undefined;
  for (const up of proof.updateProofs) {
    const what = `history proof: update to version ${up.version}`;
    if (up.epoch < 1n || up.epoch > currentEpoch) {
      throw new AkdError('history', `${what}: epoch ${up.epoch} is not in 1..${currentEpoch}`);
    }
    if (previousEpoch !== undefined && up.epoch > previousEpoch) {
      throw new AkdError(
        'history',
        `${what}: published at epoch ${up.epoch}, after the next version's epoch ${previousEpoch}`,
      );
    }
    previousEpoch = up.epoch;
    const tombstone = params.allowMissingValues === true && up.value.length === 0;
    if (
      !tombstone &&
      !equalBytes(hashLeafWithValue(up.value, up.epoch, up.commitmentNonce), up.existenceProof.hashVal)
    ) {
      throw new AkdError(
        'history',
        `${what}: value and commitment nonce do not match the leaf (committed at epoch ${up.epoch})`,
      );
    }
    verifyMembership(rootHash, up.existenceProof, `${what}: existence proof`, at);
    labelChecks.push(() =>
      verifyNodeLabel(pk, username, 'fresh', up.version, up.existenceVrfProof, up.existenceProof.label, what),
    );
    results.push({ epoch: up.epoch, version: up.version, value: up.value });
    if (up.version <= 1n) continue;
    // the previous version was marked stale in the same epoch
    const prev = `${what}: proof that version ${up.version - 1n} became stale`;
    const prevProof = up.previousVersionProof;
    const prevVrf = up.previousVersionVrfProof;
    if (prevProof === undefined || prevVrf === undefined) throw new AkdError('history', `${prev} is missing`);
    if (!equalBytes(hashLeafWithCommitment(STALE_AZKS_VALUE, up.epoch), prevProof.hashVal)) {
      throw new AkdError('history', `${prev}: the leaf is not a stale marker committed at epoch ${up.epoch}`);
    }
    verifyMembership(rootHash, prevProof, prev, at);
    labelChecks.push(() =>
      verifyNodeLabel(pk, username, 'stale', up.version - 1n, prevVrf, prevProof.label, prev),
    );
  }
  markers.past.forEach((version, i) => {
    const what = `history proof: past marker proof for version ${version}`;
    const mp = proof.existenceOfPastMarkerProofs[i] as MembershipProof;
    verifyMembership(rootHash, mp, what, at);
    const vrf = proof.pastMarkerVrfProofs[i] as Uint8Array;
    labelChecks.push(() => verifyNodeLabel(pk, username, 'fresh', version, vrf, mp.label, what));
  });
  markers.future.forEach((version, i) => {
    const what = `history proof: proof that future version ${version} does not exist`;
    const nm = proof.nonExistenceOfFutureMarkerProofs[i] as NonMembershipProof;
    verifyNonMembership(rootHash, nm, what, at);
    const vrf = proof.futureMarkerVrfProofs[i] as Uint8Array;
    labelChecks.push(() => verifyNodeLabel(pk, username, 'fresh', version, vrf, nm.label, what));
  });
  for (const check of labelChecks) check();
  return results;
}
