// Membership and non-membership proofs over the latest tree in a snapshot, mirroring akd's
// `get_lcp_node_label_with_membership_proof` / `get_non_membership_proof`.
import { labelEquals, type NodeLabel, prefixOrdering, ROOT_LABEL } from '@keyfleet/sdk/akd/label';
import type { AzksElement, MembershipProof, NonMembershipProof, SiblingProof } from '@keyfleet/sdk/akd/types';
import type { TreeHasher } from './hasher.ts';
import { visibleElement } from './insert.ts';
import type { NodeSource } from './node-source.ts';
import type { TreeNode } from './types.ts';

async function one(source: NodeSource, label: NodeLabel): Promise<TreeNode> {
  const [node] = await source.getNodes([label]);
  if (node === undefined) throw new Error('tree node missing from storage');
  return node;
}

/** Both children of `node` (undefined where there is none). */
async function children(
  source: NodeSource,
  node: TreeNode,
): Promise<[TreeNode | undefined, TreeNode | undefined]> {
  const wanted = [node.left, node.right].filter((l): l is NodeLabel => l !== undefined);
  const got = wanted.length === 0 ? [] : await source.getNodes(wanted);
  let i = 0;
  const left = node.left ? got[i++] : undefined;
  const right = node.right ? got[i++] : undefined;
  if ((node.left && !left) || (node.right && !right)) throw new Error('tree node missing from storage');
  return [left, right];
}

/**
 * Walks from the root towards `label`; returns the deepest node that is `label` or a prefix of
 * it together with the membership proof of that node.
 */
export async function longestPrefixWithProof(
  source: NodeSource,
  hasher: TreeHasher,
  label: NodeLabel,
): Promise<{ node: TreeNode; proof: MembershipProof }> {
  const siblingProofs: SiblingProof[] = [];
  let current = await one(source, ROOT_LABEL);
  let previous = current;
  let equal = labelEquals(label, current.label);
  let direction = prefixOrdering(current.label, label);
  while (!equal && direction !== null) {
    const [left, right] = await children(source, current);
    const child = direction === 0 ? left : right;
    if (child === undefined) break;
    const sibling = direction === 0 ? right : left;
    siblingProofs.push({ label: current.label, sibling: visibleElement(hasher, sibling), direction });
    previous = current;
    current = child;
    equal = labelEquals(label, current.label);
    direction = prefixOrdering(current.label, label);
  }
  if (!equal) {
    current = previous;
    siblingProofs.pop();
  }
  return {
    node: current,
    proof: { label: current.label, hashVal: visibleElement(hasher, current).value, siblingProofs },
  };
}

export async function membershipProof(
  source: NodeSource,
  hasher: TreeHasher,
  label: NodeLabel,
): Promise<MembershipProof> {
  const { node, proof } = await longestPrefixWithProof(source, hasher, label);
  if (!labelEquals(node.label, label)) throw new Error('label is not in the tree');
  return proof;
}

export async function nonMembershipProof(
  source: NodeSource,
  hasher: TreeHasher,
  label: NodeLabel,
): Promise<NonMembershipProof> {
  const { node, proof } = await longestPrefixWithProof(source, hasher, label);
  if (labelEquals(node.label, label)) throw new Error('label is in the tree');
  const [left, right] = await children(source, node);
  const kids: [AzksElement, AzksElement] = [visibleElement(hasher, left), visibleElement(hasher, right)];
  return {
    label,
    longestPrefix: node.label,
    longestPrefixChildren: kids,
    longestPrefixMembershipProof: proof,
  };
}
