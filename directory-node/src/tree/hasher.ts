// The tree hashing of a configuration (akd's `Configuration`, hashing part). The tree is
// written against this interface; `whatsappV1Hasher` binds it to the sdk's WhatsApp v1 rules.
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import { EMPTY_LABEL } from '@keyfleet/sdk/akd/label';
import type { AzksElement } from '@keyfleet/sdk/akd/types';
import * as v1 from '@keyfleet/sdk/akd/whatsapp-v1';

export interface TreeHasher {
  /** Placeholder label of a missing child (akd `empty_label`). */
  readonly emptyLabel: NodeLabel;
  /** Value of a missing child (akd `empty_node_hash`). */
  readonly emptyNodeValue: Uint8Array;
  /** Value of a root without children (akd `empty_root_value`). */
  readonly emptyRootValue: Uint8Array;
  /** akd `compute_parent_hash_from_children`. */
  parentValue(left: AzksElement, right: AzksElement): Uint8Array;
  /** akd `hash_leaf_with_commitment(commitment, epoch)`. */
  leafValueWithEpoch(commitment: Uint8Array, epoch: number): Uint8Array;
  /** akd `compute_root_hash_from_val`: the published root hash. */
  rootHash(rootValue: Uint8Array): Uint8Array;
}

export const whatsappV1Hasher: TreeHasher = {
  emptyLabel: EMPTY_LABEL,
  emptyNodeValue: v1.EMPTY_NODE_HASH,
  emptyRootValue: v1.EMPTY_ROOT_VALUE,
  parentValue: (l, r) => v1.parentHash(l.value, v1.labelValue(l.label), r.value, v1.labelValue(r.label)),
  leafValueWithEpoch: (commitment, epoch) => v1.hashLeafWithCommitment(commitment, BigInt(epoch)),
  rootHash: v1.rootHashFromValue,
};
