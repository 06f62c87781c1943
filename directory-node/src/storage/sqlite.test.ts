import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leafLabel, ROOT_LABEL } from '@keyfleet/sdk/akd/label';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TreeNode } from '../tree/types.ts';
import { SqliteStorage } from './sqlite.ts';
import type { CommitStep, EpochCommit } from './types.ts';

const enc = new TextEncoder();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kf-sqlite-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const leaf = leafLabel(new Uint8Array(32).fill(7));
const nodes: TreeNode[] = [
  {
    label: ROOT_LABEL,
    kind: 'root',
    lastEpoch: 1,
    minDescendantEpoch: 1,
    left: leaf,
    right: undefined,
    value: new Uint8Array(32).fill(1),
  },
  {
    label: leaf,
    kind: 'leaf',
    lastEpoch: 1,
    minDescendantEpoch: 1,
    left: undefined,
    right: undefined,
    value: new Uint8Array(32).fill(2),
  },
];

function commitFor(epoch: number, previous: Uint8Array, drained: number[] = []): EpochCommit {
  return {
    record: {
      epoch,
      rootHash: new Uint8Array(32).fill(epoch),
      previousRootHash: previous,
      timestamp: 1000 + epoch,
      head: enc.encode(`head ${epoch}`),
      signature: new Uint8Array(64),
      auditBlob: enc.encode(`blob ${epoch}`),
      updates: 1,
    },
    nodes,
    valueStates: [
      { username: enc.encode('alice'), value: enc.encode(`v${epoch}`), version: epoch, epoch, label: leaf },
    ],
    drained,
  };
}

describe('SqliteStorage', () => {
  it('commits an epoch atomically and a read-only connection sees it', async () => {
    const path = join(dir, 'd.db');
    const s = new SqliteStorage(path);
    const q = await s.enqueue(
      { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') },
      10,
    );
    expect(q.status).toBe('queued');
    await s.commitEpoch(commitFor(1, new Uint8Array(32), [q.status === 'queued' ? q.seq : -1]));
    expect(await s.queueDepth()).toBe(0);
    const reader = new SqliteStorage(path, { readOnly: true });
    await reader.read(async (snap) => {
      expect((await snap.latestEpoch())?.epoch).toBe(1);
      const [root, l, missing] = await snap.getNodes([ROOT_LABEL, leaf, leafLabel(new Uint8Array(32))]);
      expect(root).toEqual(nodes[0]);
      expect(l).toEqual(nodes[1]);
      expect(missing).toBeUndefined();
      const states = await snap.latestValueStates([enc.encode('alice'), enc.encode('bob')]);
      expect([...states.values()].map((v) => v.version)).toEqual([1]);
    });
    reader.close();
    s.close();
  });

  it.each(['nodes', 'values', 'epoch', 'queue'] as CommitStep[])(
    'leaves nothing behind when the epoch transaction fails after step %s',
    async (step) => {
      const s = new SqliteStorage(join(dir, 'd.db'), {
        onCommitStep: (at) => {
          if (at === step) throw new Error('injected');
        },
      });
      const q = await s.enqueue(
        { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') },
        10,
      );
      await expect(
        s.commitEpoch(commitFor(1, new Uint8Array(32), [q.status === 'queued' ? q.seq : -1])),
      ).rejects.toThrow('injected');
      await s.read(async (snap) => {
        expect(await snap.latestEpoch()).toBeUndefined();
        expect(await snap.getNodes([ROOT_LABEL])).toEqual([undefined]);
        expect((await snap.latestValueStates([enc.encode('alice')])).size).toBe(0);
      });
      expect(await s.queueDepth()).toBe(1);
      s.close();
    },
  );

  it('refuses an epoch that does not extend the stored one', async () => {
    const s = new SqliteStorage(join(dir, 'd.db'));
    await s.commitEpoch(commitFor(1, new Uint8Array(32)));
    await expect(s.commitEpoch(commitFor(3, new Uint8Array(32).fill(1)))).rejects.toThrow(
      /not the next epoch/,
    );
    await expect(s.commitEpoch(commitFor(2, new Uint8Array(32).fill(9)))).rejects.toThrow(/does not extend/);
    await s.commitEpoch(commitFor(2, new Uint8Array(32).fill(1)));
    s.close();
  });

  it('queues idempotently by request id, reports conflicts and a full queue', async () => {
    const s = new SqliteStorage(join(dir, 'd.db'));
    const change = { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') };
    const first = await s.enqueue(change, 2);
    expect(first.status).toBe('queued');
    expect(await s.enqueue(change, 2)).toEqual({
      status: 'duplicate',
      seq: first.status === 'queued' ? first.seq : -1,
    });
    expect(await s.enqueue({ ...change, value: enc.encode('other') }, 2)).toEqual({ status: 'conflict' });
    expect((await s.enqueue({ ...change, requestId: 'r2' }, 2)).status).toBe('queued');
    expect(await s.enqueue({ ...change, requestId: 'r3' }, 2)).toEqual({ status: 'full' });
    expect((await s.pending(10)).map((c) => c.requestId)).toEqual(['r1', 'r2']);
    s.close();
  });
});
