import { leafLabel } from '@keyfleet/sdk/akd/label';
import { vrfInput } from '@keyfleet/sdk/akd/whatsapp-v1';
import { type VrfSecretKey, vrfEvaluate, vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { InlineLabelDeriver, type LabelRequest, WorkerLabelDeriver } from './labels.ts';

const enc = new TextEncoder();
const requests = (n: number): LabelRequest[] =>
  Array.from({ length: n }, (_, i) => ({
    username: enc.encode(`user-${i}-${'x'.repeat(i % 17)}`),
    freshness: i % 3 === 0 ? 'stale' : 'fresh',
    version: BigInt(1 + (i % 300)),
  }));

/** The label from the @noble reference ECVRF (the deriver runs the sdk's libsodium one). */
const referenceLabel = (key: VrfSecretKey, r: LabelRequest) =>
  leafLabel(vrfEvaluate(key, vrfInput(r.username, r.freshness, r.version)).subarray(0, 32));

describe('VRF label derivation', () => {
  it('gives the labels of the @noble reference ECVRF, for several keys', async () => {
    for (let k = 0; k < 4; k++) {
      const key = vrfSecretKey(ed25519.utils.randomSecretKey());
      const reqs = requests(12);
      expect(await new InlineLabelDeriver(key).derive(reqs)).toEqual(reqs.map((r) => referenceLabel(key, r)));
    }
  });

  it('worker threads return the labels of the inline deriver, in order', async () => {
    const secret = new Uint8Array(32).fill(9);
    const key = vrfSecretKey(secret);
    const reqs = requests(80);
    const workers = new WorkerLabelDeriver(secret, key, 2);
    try {
      expect(await workers.derive(reqs)).toEqual(reqs.map((r) => referenceLabel(key, r)));
    } finally {
      await workers.close();
    }
  });
});
