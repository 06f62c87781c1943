// The behaviour every DirectoryStorage backend must have, as a vitest suite: atomic epoch
// commits (also when interrupted at any step), snapshot reads, the epoch chain check, the
// idempotent queue, and whole epochs whose proofs the sdk verifies.

import { verifyConsecutiveAppendOnly } from '@keyfleet/sdk/akd/audit';
import { decodeSingleAppendOnlyProof } from '@keyfleet/sdk/akd/codec';
import { leafLabel, ROOT_LABEL } from '@keyfleet/sdk/akd/label';
import { lookupVerify } from '@keyfleet/sdk/akd/verify';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { signingKeys, vrfKeys } from '../keys.ts';
import { lookupProof } from '../proofs/lookup.ts';
import { buildEpoch } from '../publisher/epoch-builder.ts';
import { InlineLabelDeriver } from '../publisher/labels.ts';
import type { CommitStep, DirectoryStorage, EpochCommit } from '../storage/types.ts';
import { whatsappV1Hasher } from '../tree/hasher.ts';
import type { TreeNode } from '../tree/types.ts';

export type StorageFactory = (options: {
  onCommitStep?: (step: CommitStep) => void;
}) => Promise<DirectoryStorage>;

const enc = new TextEncoder();
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

const seqOf = (r: { status: string; seq?: number }) => (r.status === 'queued' ? r.seq! : -1);

export function describeStorageConformance(name: string, make: StorageFactory): void {
  describe(`${name} storage conformance`, () => {
    it('commits an epoch atomically and reads it back in a snapshot', async () => {
      const s = await make({});
      const q = await s.enqueue(
        { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') },
        10,
      );
      await s.commitEpoch(commitFor(1, new Uint8Array(32), [seqOf(q)]));
      expect(await s.queueDepth()).toBe(0);
      await s.read(async (snap) => {
        expect((await snap.latestEpoch())?.epoch).toBe(1);
        expect((await snap.epoch(1))?.auditBlob).toEqual(enc.encode('blob 1'));
        const got = await snap.getNodes([ROOT_LABEL, leaf, leafLabel(new Uint8Array(32))]);
        expect(got).toEqual([nodes[0], nodes[1], undefined]);
        const states = await snap.latestValueStates([enc.encode('alice'), enc.encode('bob')]);
        expect([...states.values()].map((v) => v.version)).toEqual([1]);
        expect((await snap.valueStates(enc.encode('alice'), 10)).map((v) => v.epoch)).toEqual([1]);
      });
      await s.close();
    });

    it.each(['nodes', 'values', 'epoch', 'queue'] as CommitStep[])(
      'leaves nothing behind when the epoch transaction fails after step %s',
      async (step) => {
        const s = await make({
          onCommitStep: (at) => {
            if (at === step) throw new Error('injected');
          },
        });
        const q = await s.enqueue(
          { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') },
          10,
        );
        await expect(s.commitEpoch(commitFor(1, new Uint8Array(32), [seqOf(q)]))).rejects.toThrow('injected');
        await s.read(async (snap) => {
          expect(await snap.latestEpoch()).toBeUndefined();
          expect(await snap.getNodes([ROOT_LABEL])).toEqual([undefined]);
          expect((await snap.latestValueStates([enc.encode('alice')])).size).toBe(0);
        });
        expect(await s.queueDepth()).toBe(1);
        await s.close();
      },
    );

    it('refuses an epoch that does not extend the stored one', async () => {
      const s = await make({});
      await s.commitEpoch(commitFor(1, new Uint8Array(32)));
      await expect(s.commitEpoch(commitFor(3, new Uint8Array(32).fill(1)))).rejects.toThrow(
        /not the next epoch/,
      );
      await expect(s.commitEpoch(commitFor(2, new Uint8Array(32).fill(9)))).rejects.toThrow(
        /does not extend/,
      );
      await s.commitEpoch(commitFor(2, new Uint8Array(32).fill(1)));
      await s.close();
    });

    it('queues idempotently by request id, reports conflicts and a full queue', async () => {
      const s = await make({});
      const change = { requestId: 'r1', username: enc.encode('alice'), value: enc.encode('v1') };
      const first = await s.enqueue(change, 2);
      expect(first.status).toBe('queued');
      expect(await s.enqueue(change, 2)).toEqual({ status: 'duplicate', seq: seqOf(first) });
      expect(await s.enqueue({ ...change, value: enc.encode('other') }, 2)).toEqual({ status: 'conflict' });
      expect((await s.enqueueMany([{ ...change, requestId: 'r2' }], 2))[0]!.status).toBe('queued');
      expect(await s.enqueue({ ...change, requestId: 'r3' }, 2)).toEqual({ status: 'full' });
      expect((await s.pending(10)).map((c) => c.requestId)).toEqual(['r1', 'r2']);
      await s.dropQueued([seqOf(first)]);
      expect((await s.pending(10)).map((c) => c.requestId)).toEqual(['r2']);
      await s.close();
    });

    it('holds a directory whose epochs and lookups verify', async () => {
      const s = await make({});
      const vrf = vrfKeys(new Uint8Array(32).fill(5));
      const ctx = {
        namespace: 'conformance',
        hasher: whatsappV1Hasher,
        vrf,
        signing: signingKeys(ed25519.utils.randomSecretKey()),
        labels: new InlineLabelDeriver(vrf.expanded),
        now: () => 1,
      };
      for (let epoch = 1; epoch <= 3; epoch++) {
        await s.enqueueMany(
          Array.from({ length: 6 }, (_, i) => ({
            requestId: `${epoch}-${i}`,
            username: enc.encode(`u${i * epoch}`),
            value: enc.encode(`v${epoch}`),
          })),
          1000,
        );
        const built = await buildEpoch(s, ctx, await s.pending(1000));
        await s.commitEpoch(built.commit!);
        const r = built.commit!.record;
        verifyConsecutiveAppendOnly(
          decodeSingleAppendOnlyProof(r.auditBlob),
          r.previousRootHash,
          r.rootHash,
          BigInt(r.epoch),
        );
      }
      await s.read(async (snap) => {
        const latest = (await snap.latestEpoch())!;
        for (const u of ['u0', 'u2', 'u6', 'u10']) {
          const { proof } = await lookupProof(snap, whatsappV1Hasher, vrf, enc.encode(u));
          lookupVerify(vrf.publicKey, latest.rootHash, BigInt(latest.epoch), enc.encode(u), proof);
        }
      });
      await s.close();
    });
  });
}
