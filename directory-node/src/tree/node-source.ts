// Where the tree reads nodes from: a consistent storage snapshot. Missing labels come back
// undefined, in the order asked.
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import type { TreeNode } from './types.ts';

export interface NodeSource {
  getNodes(labels: readonly NodeLabel[]): Promise<(TreeNode | undefined)[]>;
}
