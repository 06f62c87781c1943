/**
 * akd_core's WhatsAppV1Configuration: the hash function (BLAKE3, 32-byte output) and every
 * hashing rule of the tree, commitments and VRF inputs. Byte layouts, with `||` for
 * concatenation, u64/u32 big-endian, and i2osp(x) = u64(len(x)) || x:
 *
 *   labelValue(label)         = H(u32(label_len) || label_val)
 *   emptyRootValue            = H(0x00)                    (root of an empty tree)
 *   emptyNodeHash             = H(H(0x00) || labelValue(EMPTY_LABEL))  (missing child)
 *   staleAzksValue            = H(0x00)                    (value of a "stale" leaf)
 *   commitmentNonce           = H(commitment_key || u32(256) || label_val || u64(version) || i2osp(value))
 *   commitment                = H(i2osp(value) || i2osp(nonce))
 *   leafHash                  = H(commitment || u64(epoch))   (a leaf as seen by its parent)
 *   parent                    = H(H(left_value || labelValue(left)) || H(right_value || labelValue(right)))
 *   rootHash                  = H(root_value || labelValue(ROOT_LABEL))
 *   vrfInput(user, f, v)      = H(i2osp(user) || u8(f: stale 0, fresh 1) || u64(v))
 *   commitment_key            = H(VRF secret key bytes)       (akd's Directory)
 */
import { blake3 } from './blake3.ts';
import { concatBytes, i2osp, u64be } from './bytes.ts';
import { EMPTY_LABEL, labelToBytes, type NodeLabel, ROOT_LABEL } from './label.ts';

export const DIGEST_BYTES = 32;

export type Freshness = 'stale' | 'fresh';

export function hash(data: Uint8Array): Uint8Array {
  return blake3(data);
}

const EMPTY_VALUE = Uint8Array.of(0);

/** H(u32be(label_len) || label_val) */
export function labelValue(label: NodeLabel): Uint8Array {
  return blake3(labelToBytes(label));
}

export const EMPTY_ROOT_VALUE: Uint8Array = hash(EMPTY_VALUE);
export const STALE_AZKS_VALUE: Uint8Array = hash(EMPTY_VALUE);
export const EMPTY_LABEL_VALUE: Uint8Array = labelValue(EMPTY_LABEL);
export const EMPTY_NODE_HASH: Uint8Array = hash(concatBytes(hash(EMPTY_VALUE), EMPTY_LABEL_VALUE));
export const ROOT_LABEL_VALUE: Uint8Array = labelValue(ROOT_LABEL);

/** The value of a leaf as its parent hashes it: H(commitment || u64be(epoch)). */
export function hashLeafWithCommitment(commitment: Uint8Array, epoch: bigint): Uint8Array {
  return blake3(commitment, u64be(epoch));
}

/** Client side: commitment = H(i2osp(value) || i2osp(nonce)). */
export function commitmentFromNonce(value: Uint8Array, nonce: Uint8Array): Uint8Array {
  return blake3(i2osp(value), i2osp(nonce));
}

/** Client side: the leaf value a lookup/history proof must contain for (value, epoch, nonce). */
export function hashLeafWithValue(value: Uint8Array, epoch: bigint, nonce: Uint8Array): Uint8Array {
  return hashLeafWithCommitment(commitmentFromNonce(value, nonce), epoch);
}

/** Server side: nonce = H(commitment_key || labelToBytes(label) || u64be(version) || i2osp(value)). */
export function commitmentNonce(
  commitmentKey: Uint8Array,
  label: NodeLabel,
  version: bigint,
  value: Uint8Array,
): Uint8Array {
  return blake3(concatBytes(commitmentKey, labelToBytes(label), u64be(version), i2osp(value)));
}

/** Server side: the committed value of a fresh leaf (akd's compute_fresh_azks_value). */
export function freshAzksValue(
  commitmentKey: Uint8Array,
  label: NodeLabel,
  version: bigint,
  value: Uint8Array,
): Uint8Array {
  return commitmentFromNonce(value, commitmentNonce(commitmentKey, label, version, value));
}

/** akd's Directory derives its commitment key as H(VRF secret key bytes). */
export function commitmentKeyFromVrfSecret(vrfSecretKey: Uint8Array): Uint8Array {
  return blake3(vrfSecretKey);
}

/** The VRF input for a (username, freshness, version) triple. */
export function vrfInput(username: Uint8Array, freshness: Freshness, version: bigint): Uint8Array {
  return blake3(concatBytes(i2osp(username), Uint8Array.of(freshness === 'fresh' ? 1 : 0), u64be(version)));
}

/** Parent value from the children's values and label values. */
export function parentHash(
  leftValue: Uint8Array,
  leftLabelValue: Uint8Array,
  rightValue: Uint8Array,
  rightLabelValue: Uint8Array,
): Uint8Array {
  return blake3(blake3(leftValue, leftLabelValue), blake3(rightValue, rightLabelValue));
}

/** The published root hash from the root node's value. */
export function rootHashFromValue(rootValue: Uint8Array): Uint8Array {
  return blake3(rootValue, ROOT_LABEL_VALUE);
}

/** Root hash of the empty directory (epoch 0). */
export const EMPTY_TREE_ROOT_HASH: Uint8Array = rootHashFromValue(EMPTY_ROOT_VALUE);
