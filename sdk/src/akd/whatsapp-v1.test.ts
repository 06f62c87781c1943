import { describe, expect, it } from 'vitest';
import { type LabelJson, lookupFixtures, primitivesFixtures } from '../../../test/interop/load.ts';
import { computeRootHash, leafElement } from './audit.ts';
import { bytesToHex, hexToBytes } from './bytes.ts';
import { EMPTY_LABEL, type NodeLabel, nodeLabel } from './label.ts';
import { deriveNodeLabel, nodeLabelFromVrfProof, proveNodeLabel } from './vrf-labels.ts';
import {
  commitmentKeyFromVrfSecret,
  commitmentNonce,
  EMPTY_NODE_HASH,
  EMPTY_ROOT_VALUE,
  EMPTY_TREE_ROOT_HASH,
  freshAzksValue,
  hashLeafWithValue,
  ROOT_LABEL_VALUE,
  STALE_AZKS_VALUE,
  vrfInput,
} from './whatsapp-v1.ts';

const fx = primitivesFixtures();
const label = (j: LabelJson): NodeLabel => nodeLabel(hexToBytes(j.label_val), j.label_len);

describe('WhatsApp v1 constants equal akd 0.13', () => {
  it('empty root, empty node, stale value, labels', () => {
    const c = fx.constants;
    expect(bytesToHex(EMPTY_ROOT_VALUE)).toBe(c.empty_root_value);
    expect(bytesToHex(EMPTY_NODE_HASH)).toBe(c.empty_node_hash);
    expect(bytesToHex(STALE_AZKS_VALUE)).toBe(c.stale_azks_value);
    expect(bytesToHex(ROOT_LABEL_VALUE)).toBe(c.root_label_value);
    expect(bytesToHex(EMPTY_TREE_ROOT_HASH)).toBe(c.empty_tree_root_hash);
    expect(bytesToHex(EMPTY_LABEL.labelVal)).toBe(c.empty_label.label_val);
    expect(EMPTY_LABEL.labelLen).toBe(c.empty_label.label_len);
  });

  it('the empty directory of every fixture directory has the empty-tree root at epoch 0', () => {
    for (const d of lookupFixtures().directories) {
      expect(d.epochs[0]?.epoch).toBe(0);
      expect(d.epochs[0]?.root_hash).toBe(bytesToHex(EMPTY_TREE_ROOT_HASH));
    }
  });
});

describe('label derivation through the VRF equals akd', () => {
  const dir = lookupFixtures().directories.find((d) => d.name === 'sparse');
  const sk = hexToBytes(dir?.vrf_private_key ?? '');
  for (const f of fx.labels) {
    it(`${f.freshness} version ${f.version} of 0x${f.username}`, () => {
      const user = hexToBytes(f.username);
      const version = BigInt(f.version);
      expect(bytesToHex(vrfInput(user, f.freshness, version))).toBe(f.vrf_input);
      const expected = label(f.label);
      expect(deriveNodeLabel(sk, user, f.freshness, version)).toEqual(expected);
      const proved = proveNodeLabel(sk, user, f.freshness, version);
      expect(bytesToHex(proved.proof)).toBe(f.vrf_proof);
      expect(proved.label).toEqual(expected);
      expect(nodeLabelFromVrfProof(hexToBytes(f.vrf_proof))).toEqual(expected);
    });
  }
});

describe('commitments equal akd', () => {
  it('commitment key, nonce, commitment and leaf hash', () => {
    const dir = lookupFixtures().directories.find((d) => d.name === 'sparse');
    expect(bytesToHex(commitmentKeyFromVrfSecret(hexToBytes(dir?.vrf_private_key ?? '')))).toBe(
      dir?.commitment_key,
    );
    for (const c of fx.commitments) {
      const ck = hexToBytes(c.commitment_key);
      const l = label(c.label);
      const v = BigInt(c.version);
      const value = hexToBytes(c.value);
      const nonce = commitmentNonce(ck, l, v, value);
      expect(bytesToHex(nonce)).toBe(c.nonce);
      expect(bytesToHex(freshAzksValue(ck, l, v, value))).toBe(c.commitment);
      expect(bytesToHex(hashLeafWithValue(value, BigInt(c.epoch), nonce))).toBe(c.leaf_hash);
    }
  });
});

describe('tree roots equal akd', () => {
  for (const [t, tree] of fx.trees.entries()) {
    it(`tree ${t}: root after each batch`, () => {
      expect(bytesToHex(computeRootHash([]))).toBe(tree.empty_root_hash);
      const elements = [];
      for (const batch of tree.batches) {
        for (const leaf of batch.leaves) {
          elements.push(leafElement(label(leaf.label), hexToBytes(leaf.commitment), BigInt(batch.epoch)));
        }
        expect(bytesToHex(computeRootHash(elements))).toBe(batch.root_hash);
        // order does not matter
        expect(bytesToHex(computeRootHash([...elements].reverse()))).toBe(batch.root_hash);
      }
    });
  }
});
