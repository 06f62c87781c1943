// The stored node of akd's compressed binary Merkle Patricia trie (akd 0.13 TreeNode, minus
// the parent pointer, which nothing here needs). Proof shapes and labels come from the sdk.
import type { NodeLabel } from '@keyfleet/sdk/akd/label';

export type NodeKind = 'leaf' | 'root' | 'interior';

/**
 * `value` is the commitment for a leaf (hashed with `lastEpoch` whenever a parent or a proof
 * uses it) and the subtree value for the root and interior nodes.
 */
export type TreeNode = {
  label: NodeLabel;
  kind: NodeKind;
  lastEpoch: number;
  minDescendantEpoch: number;
  left: NodeLabel | undefined;
  right: NodeLabel | undefined;
  value: Uint8Array;
};
