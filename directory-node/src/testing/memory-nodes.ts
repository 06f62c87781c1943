// An in-memory NodeSource for tests: a map of committed nodes plus a commit helper.
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import { labelId } from '../tree/label.ts';
import type { NodeSource } from '../tree/node-source.ts';
import type { TreeNode } from '../tree/types.ts';

export class MemoryNodes implements NodeSource {
  readonly nodes = new Map<string, TreeNode>();
  reads = 0;

  async getNodes(labels: readonly NodeLabel[]): Promise<(TreeNode | undefined)[]> {
    this.reads += labels.length;
    // Copies, so that the tree cannot mutate what is "stored".
    return labels.map((l) => {
      const n = this.nodes.get(labelId(l));
      return n === undefined ? undefined : { ...n };
    });
  }

  commit(changed: readonly TreeNode[]): void {
    for (const n of changed) this.nodes.set(labelId(n.label), { ...n });
  }
}
