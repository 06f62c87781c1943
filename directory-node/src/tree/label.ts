// Server-side helpers around the sdk's node labels: map identities and the storage key.
import { LABEL_BYTES, type NodeLabel, nodeLabel } from '@keyfleet/sdk/akd/label';

/** A compact string identity of a label for in-memory maps. */
export function labelId(label: NodeLabel): string {
  const v = label.labelVal;
  return label.labelLen.toString(16) + ':' + Buffer.from(v.buffer, v.byteOffset, LABEL_BYTES).toString('hex');
}

/** Inverse of the sdk's `labelToBytes` (u32 length, then the 32 label bytes), used as storage key. */
export function labelFromBytes(bytes: Uint8Array): NodeLabel {
  if (bytes.length !== 4 + LABEL_BYTES) throw new Error(`node key must be ${4 + LABEL_BYTES} bytes`);
  const len = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  return nodeLabel(bytes.subarray(4), len);
}
