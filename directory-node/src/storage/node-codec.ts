// Binary encoding of a stored tree node:
//   kind u8 (1 leaf, 2 root, 3 interior, as akd's TreeNodeType) | last_epoch u64 |
//   min_descendant_epoch u64 | value [32] | children u8 (bit0 left, bit1 right) |
//   left label [36]? | right label [36]?     (a label is u32 length || 32 bytes)
import { labelToBytes } from '@keyfleet/sdk/akd/label';
import { labelFromBytes } from '../tree/label.ts';
import type { NodeKind, TreeNode } from '../tree/types.ts';

const KIND_CODE: Record<NodeKind, number> = { leaf: 1, root: 2, interior: 3 };
const CODE_KIND: Record<number, NodeKind> = { 1: 'leaf', 2: 'root', 3: 'interior' };
const HEADER = 1 + 8 + 8 + 32 + 1;
const LABEL = 36;

export function encodeNode(node: TreeNode): Uint8Array {
  const out = new Uint8Array(HEADER + (node.left ? LABEL : 0) + (node.right ? LABEL : 0));
  const view = new DataView(out.buffer);
  out[0] = KIND_CODE[node.kind];
  view.setBigUint64(1, BigInt(node.lastEpoch));
  view.setBigUint64(9, BigInt(node.minDescendantEpoch));
  out.set(node.value, 17);
  out[49] = (node.left ? 1 : 0) | (node.right ? 2 : 0);
  let at = HEADER;
  if (node.left) {
    out.set(labelToBytes(node.left), at);
    at += LABEL;
  }
  if (node.right) out.set(labelToBytes(node.right), at);
  return out;
}

export function decodeNode(key: Uint8Array, data: Uint8Array): TreeNode {
  const kind = CODE_KIND[data[0]!];
  const children = data[49]!;
  const expected = HEADER + (children & 1 ? LABEL : 0) + (children & 2 ? LABEL : 0);
  if (kind === undefined || data.length !== expected) throw new Error('corrupt tree node record');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = HEADER;
  let left: TreeNode['left'];
  let right: TreeNode['right'];
  if (children & 1) {
    left = labelFromBytes(data.slice(at, at + LABEL));
    at += LABEL;
  }
  if (children & 2) right = labelFromBytes(data.slice(at, at + LABEL));
  return {
    label: labelFromBytes(key),
    kind,
    lastEpoch: Number(view.getBigUint64(1)),
    minDescendantEpoch: Number(view.getBigUint64(9)),
    value: data.slice(17, 49),
    left,
    right,
  };
}
