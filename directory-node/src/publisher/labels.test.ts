import { deriveNodeLabel } from '@keyfleet/sdk/akd/vrf-labels';
import { vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { InlineLabelDeriver, type LabelRequest, WorkerLabelDeriver } from './labels.ts';
import { deriveNodeLabelSodium, sodiumLabelKey } from './sodium-labels.ts';

const enc = new TextEncoder();
const requests = (n: number): LabelRequest[] =>
  Array.from({ length: n }, (_, i) => ({
    username: enc.encode(`user-${i}-${'x'.repeat(i % 17)}`),
    freshness: i % 3 === 0 ? 'stale' : 'fresh',
    version: BigInt(1 + (i % 300)),
  }));

describe('VRF label derivation', () => {
  it('libsodium multiplication gives the sdk (noble) labels, for several keys', () => {
    for (let k = 0; k < 4; k++) {
      const key = vrfSecretKey(ed25519.utils.randomSecretKey());
      const fast = sodiumLabelKey(key);
      for (const r of requests(12)) {
        expect(deriveNodeLabelSodium(fast, r.username, r.freshness, r.version)).toEqual(
          deriveNodeLabel(key, r.username, r.freshness, r.version),
        );
      }
    }
  });

  it('worker threads return the labels of the inline deriver, in order', async () => {
    const secret = new Uint8Array(32).fill(9);
    const key = vrfSecretKey(secret);
    const reqs = requests(80);
    const workers = new WorkerLabelDeriver(secret, key, 2);
    try {
      expect(await workers.derive(reqs)).toEqual(await new InlineLabelDeriver(key).derive(reqs));
    } finally {
      await workers.close();
    }
  });
});
