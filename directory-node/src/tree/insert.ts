// Batch insertion of one epoch into the compressed trie, mirroring akd's
// `Azks::batch_insert_nodes` (Directory mode): preload every node the batch touches, insert
// recursively (a new interior node at the longest common prefix wherever the batch diverges
// from an existing node), rehash bottom-up, then derive the epoch's append-only proof from the
// same in-memory nodes. Pure apart from reading the NodeSource; the caller persists `changed`.
import {
  isPrefixOf,
  longestCommonPrefix,
  MAX_LABEL_LEN,
  type NodeLabel,
  prefixOrdering,
  ROOT_LABEL,
} from '@keyfleet/sdk/akd/label';
import type { AzksElement, SingleAppendOnlyProof } from '@keyfleet/sdk/akd/types';
import type { TreeHasher } from './hasher.ts';
import { labelId } from './label.ts';
import type { NodeSource } from './node-source.ts';
import type { TreeNode } from './types.ts';

export type EpochInsertResult = {
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  /** Nodes created or modified in this epoch (to be written). */
  readonly changed: readonly TreeNode[];
  /** akd's audit proof for the transition epoch-1 -> epoch. */
  readonly appendOnly: SingleAppendOnlyProof;
};

export function newRootNode(hasher: TreeHasher): TreeNode {
  return {
    label: ROOT_LABEL,
    kind: 'root',
    lastEpoch: 0,
    minDescendantEpoch: 0,
    left: undefined,
    right: undefined,
    value: hasher.emptyRootValue,
  };
}

/** What a parent (or a proof) sees of a node: leaves are bound to their epoch. */
export function visibleElement(hasher: TreeHasher, node: TreeNode | undefined): AzksElement {
  if (node === undefined) return { label: hasher.emptyLabel, value: hasher.emptyNodeValue };
  const value = node.kind === 'leaf' ? hasher.leafValueWithEpoch(node.value, node.lastEpoch) : node.value;
  return { label: node.label, value };
}

function compareVals(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function bit(label: NodeLabel, index: number): number {
  return (label.labelVal[index >> 3]! >> (7 - (index & 7))) & 1;
}

/** Sorted leaves; every label must be a full 256-bit leaf label and appear once. */
function sortedLeaves(elements: readonly AzksElement[]): AzksElement[] {
  const sorted = elements.slice().sort((a, b) => compareVals(a.label.labelVal, b.label.labelVal));
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.label.labelLen !== MAX_LABEL_LEN)
      throw new Error('inserted labels must be 256-bit leaf labels');
    if (i > 0 && compareVals(sorted[i - 1]!.label.labelVal, sorted[i]!.label.labelVal) === 0) {
      throw new Error('batch contains a duplicate label');
    }
  }
  return sorted;
}

/** Is some element of the sorted leaf list under `prefix`? */
function hasLeafUnder(sorted: readonly AzksElement[], prefix: NodeLabel): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareVals(sorted[mid]!.label.labelVal, prefix.labelVal) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && isPrefixOf(prefix, sorted[lo]!.label);
}

/** Loads, level by level, every node on the paths the batch touches plus their children. */
async function preload(source: NodeSource, sorted: readonly AzksElement[], hasher: TreeHasher) {
  const nodes = new Map<string, TreeNode>();
  const [stored] = await source.getNodes([ROOT_LABEL]);
  const root = stored ?? newRootNode(hasher);
  nodes.set(labelId(ROOT_LABEL), root);
  let frontier: TreeNode[] = [root];
  while (frontier.length > 0) {
    const wanted: NodeLabel[] = [];
    for (const node of frontier) {
      if (node.kind === 'leaf' || !hasLeafUnder(sorted, node.label)) continue;
      if (node.left) wanted.push(node.left);
      if (node.right) wanted.push(node.right);
    }
    if (wanted.length === 0) break;
    const loaded = await source.getNodes(wanted);
    frontier = [];
    for (let i = 0; i < wanted.length; i++) {
      const node = loaded[i];
      if (node === undefined) throw new Error(`tree is missing node ${labelId(wanted[i]!)}`);
      nodes.set(labelId(node.label), node);
      frontier.push(node);
    }
  }
  return nodes;
}

function setChild(parent: TreeNode, child: TreeNode): void {
  const side = prefixOrdering(parent.label, child.label);
  if (side === null) throw new Error(`node ${labelId(child.label)} is not below ${labelId(parent.label)}`);
  if (side === 0) parent.left = child.label;
  else parent.right = child.label;
  parent.lastEpoch = Math.max(parent.lastEpoch, child.lastEpoch);
  parent.minDescendantEpoch =
    parent.minDescendantEpoch === 0
      ? child.minDescendantEpoch
      : Math.min(parent.minDescendantEpoch, child.minDescendantEpoch);
}

function interior(label: NodeLabel, epoch: number): TreeNode {
  return {
    label,
    kind: 'interior',
    lastEpoch: epoch,
    minDescendantEpoch: epoch,
    left: undefined,
    right: undefined,
    value: new Uint8Array(32),
  };
}

export async function insertEpoch(
  source: NodeSource,
  hasher: TreeHasher,
  elements: readonly AzksElement[],
  epoch: number,
): Promise<EpochInsertResult> {
  if (elements.length === 0) throw new Error('an epoch needs at least one inserted element');
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new Error(`bad epoch ${epoch}`);
  const sorted = sortedLeaves(elements);
  const nodes = await preload(source, sorted, hasher);
  const changed = new Map<string, TreeNode>();
  const get = (label: NodeLabel): TreeNode => {
    const node = nodes.get(labelId(label));
    if (node === undefined) throw new Error(`node ${labelId(label)} was not preloaded`);
    return node;
  };
  const childElement = (label: NodeLabel | undefined) =>
    visibleElement(hasher, label === undefined ? undefined : get(label));
  const setPrefix = (lo: number, hi: number): NodeLabel =>
    hi - lo === 1 ? sorted[lo]!.label : longestCommonPrefix(sorted[lo]!.label, sorted[hi - 1]!.label);

  // Inserts sorted[lo, hi) below the existing node `at` (or as a new subtree when undefined).
  const insert = (at: NodeLabel | undefined, lo: number, hi: number): TreeNode => {
    let current: TreeNode;
    if (at === undefined && hi - lo === 1) {
      const element = sorted[lo]!;
      current = {
        label: element.label,
        kind: 'leaf',
        lastEpoch: epoch,
        minDescendantEpoch: epoch,
        left: undefined,
        right: undefined,
        value: element.value,
      };
    } else {
      if (at === undefined) {
        current = interior(setPrefix(lo, hi), epoch);
      } else {
        const existing = get(at);
        const lcp = longestCommonPrefix(at, setPrefix(lo, hi));
        if (lcp.labelLen < at.labelLen) {
          current = interior(lcp, epoch);
          setChild(current, existing);
        } else if (existing.kind === 'leaf') {
          throw new Error(`label ${labelId(existing.label)} is already in the tree`);
        } else {
          current = { ...existing };
        }
      }
      // The batch is sorted and shares current's prefix: the bit after it splits it in two.
      const at0 = current.label.labelLen;
      let mid = lo;
      let end = hi;
      while (mid < end) {
        const m = (mid + end) >> 1;
        if (bit(sorted[m]!.label, at0) === 0) mid = m + 1;
        else end = m;
      }
      if (lo < mid) setChild(current, insert(current.left, lo, mid));
      if (mid < hi) setChild(current, insert(current.right, mid, hi));
      current.value = hasher.parentValue(childElement(current.left), childElement(current.right));
    }
    nodes.set(labelId(current.label), current);
    changed.set(labelId(current.label), current);
    return current;
  };

  const root = insert(ROOT_LABEL, 0, sorted.length);
  const appendOnly = appendOnlyProof(hasher, root, get, epoch - 1, epoch);
  return { epoch, rootHash: hasher.rootHash(root.value), changed: [...changed.values()], appendOnly };
}

/**
 * akd's `get_append_only_proof_helper` for start -> end over the nodes as of `end`: subtrees
 * last touched at or before `start` are "unchanged" (with their visible value), leaves touched
 * after it are "inserted" (with their bare commitment); left before right.
 */
export function appendOnlyProof(
  hasher: TreeHasher,
  root: TreeNode,
  get: (label: NodeLabel) => TreeNode,
  start: number,
  end: number,
): SingleAppendOnlyProof {
  const inserted: AzksElement[] = [];
  const unchangedNodes: AzksElement[] = [];
  const walk = (node: TreeNode): void => {
    if (node.lastEpoch <= start) {
      if (node.kind !== 'root') unchangedNodes.push(visibleElement(hasher, node));
      return;
    }
    if (node.minDescendantEpoch > end) return;
    if (node.kind === 'leaf') {
      inserted.push({ label: node.label, value: node.value });
      return;
    }
    if (node.left) walk(get(node.left));
    if (node.right) walk(get(node.right));
  };
  walk(root);
  return { inserted, unchangedNodes };
}
