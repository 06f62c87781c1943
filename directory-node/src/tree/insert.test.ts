import { readFileSync } from 'node:fs';
import { computeRootHash, leafElement, verifyConsecutiveAppendOnly } from '@keyfleet/sdk/akd/audit';
import { bytesToHex, hexToBytes } from '@keyfleet/sdk/akd/bytes';
import { leafLabel } from '@keyfleet/sdk/akd/label';
import type { AzksElement } from '@keyfleet/sdk/akd/types';
import { verifyMembership, verifyNonMembership } from '@keyfleet/sdk/akd/verify';
import { EMPTY_TREE_ROOT_HASH, hashLeafWithCommitment } from '@keyfleet/sdk/akd/whatsapp-v1';
import { blake3 } from '@noble/hashes/blake3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryNodes } from '../testing/memory-nodes.ts';
import { whatsappV1Hasher as hasher } from './hasher.ts';
import { insertEpoch } from './insert.ts';
import { membershipProof, nonMembershipProof } from './proofs.ts';

type FixtureTree = {
  batches: {
    epoch: number;
    root_hash: string;
    leaves: { commitment: string; label: { label_val: string } }[];
  }[];
};
const fixtureUrl = new URL('../../../test/interop/fixtures/primitives.json', import.meta.url);
const trees = (JSON.parse(readFileSync(fixtureUrl, 'utf8')) as { trees: FixtureTree[] }).trees;

function element(seed: string): AzksElement {
  return {
    label: leafLabel(blake3(new TextEncoder().encode(`label/${seed}`))),
    value: blake3(new TextEncoder().encode(seed)),
  };
}

describe('insertEpoch', () => {
  it.each(trees.map((t, i) => [i, t] as const))(
    'reproduces the akd crate root hashes of fixture tree %i',
    async (_, tree) => {
      const store = new MemoryNodes();
      for (const batch of tree.batches) {
        const elements = batch.leaves.map((l) => ({
          label: leafLabel(hexToBytes(l.label.label_val)),
          value: hexToBytes(l.commitment),
        }));
        const result = await insertEpoch(store, hasher, elements, batch.epoch);
        store.commit(result.changed);
        expect(bytesToHex(result.rootHash)).toBe(batch.root_hash);
      }
    },
  );

  it('produces membership, non-membership and append-only proofs the sdk verifies, epoch after epoch', async () => {
    const store = new MemoryNodes();
    let previousRoot = EMPTY_TREE_ROOT_HASH;
    const inserted: { e: AzksElement; epoch: number }[] = [];
    for (let epoch = 1; epoch <= 6; epoch++) {
      const batch = Array.from({ length: epoch * 7 }, (_, i) => element(`${epoch}/${i}`));
      const result = await insertEpoch(store, hasher, batch, epoch);
      store.commit(result.changed);
      verifyConsecutiveAppendOnly(result.appendOnly, previousRoot, result.rootHash, BigInt(epoch));
      expect(result.appendOnly.inserted).toHaveLength(batch.length);
      previousRoot = result.rootHash;
      for (const e of batch) inserted.push({ e, epoch });
    }
    for (const { e, epoch } of inserted.filter((_, i) => i % 5 === 0)) {
      const proof = await membershipProof(store, hasher, e.label);
      expect(proof.hashVal).toEqual(hashLeafWithCommitment(e.value, BigInt(epoch)));
      verifyMembership(previousRoot, proof);
    }
    for (let i = 0; i < 20; i++) {
      const absent = element(`absent/${i}`).label;
      verifyNonMembership(previousRoot, await nonMembershipProof(store, hasher, absent));
    }
  });

  it('makes non-membership proofs in trees with zero or one leaf', async () => {
    const store = new MemoryNodes();
    const first = await insertEpoch(store, hasher, [element('only')], 1);
    store.commit(first.changed);
    verifyNonMembership(first.rootHash, await nonMembershipProof(store, hasher, element('x').label));
    verifyNonMembership(first.rootHash, await nonMembershipProof(store, hasher, element('y').label));
  });

  it('has the root of the canonical trie of all leaves inserted so far (property)', async () => {
    // Random labels make shallow tries; labels differing only in their last bytes make deep ones.
    const labelBytes = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc
        .uint8Array({ minLength: 2, maxLength: 2 })
        .map((tail) => Uint8Array.from([...new Uint8Array(30).fill(0x5a), ...tail])),
    );
    const batches = fc.array(
      fc.uniqueArray(labelBytes, {
        minLength: 1,
        maxLength: 12,
        selector: (b) => Buffer.from(b).toString('hex'),
      }),
      {
        minLength: 1,
        maxLength: 5,
      },
    );
    await fc.assert(
      fc.asyncProperty(batches, async (bs) => {
        const store = new MemoryNodes();
        const seen = new Set<string>();
        const all: AzksElement[] = [];
        let epoch = 0;
        for (const batch of bs) {
          const fresh = batch.filter((b) => !seen.has(Buffer.from(b).toString('hex')));
          if (fresh.length === 0) continue;
          epoch++;
          const elements = fresh.map((b) => ({ label: leafLabel(b), value: blake3(b) }));
          for (const b of fresh) seen.add(Buffer.from(b).toString('hex'));
          const result = await insertEpoch(store, hasher, elements, epoch);
          store.commit(result.changed);
          for (const e of elements) all.push(leafElement(e.label, e.value, BigInt(epoch)));
          expect(result.rootHash).toEqual(computeRootHash(all));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('rejects a label that is already in the tree and a duplicate within a batch', async () => {
    const store = new MemoryNodes();
    const e = element('dup');
    store.commit((await insertEpoch(store, hasher, [e], 1)).changed);
    await expect(insertEpoch(store, hasher, [e], 2)).rejects.toThrow(/already in the tree/);
    await expect(insertEpoch(store, hasher, [element('a'), element('a')], 2)).rejects.toThrow(/duplicate/);
  });

  it('detects a tampered stored node through the proof verifier', async () => {
    const store = new MemoryNodes();
    const batch = Array.from({ length: 10 }, (_, i) => element(`t/${i}`));
    const result = await insertEpoch(store, hasher, batch, 1);
    store.commit(result.changed);
    const proof = await membershipProof(store, hasher, batch[3]!.label);
    const bad = { ...proof, hashVal: Uint8Array.from(proof.hashVal, (b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(() => verifyMembership(result.rootHash, bad)).toThrow();
  });
});
