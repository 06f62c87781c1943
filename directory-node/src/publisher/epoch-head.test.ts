import { verifyEpochHeadSignature } from '@keyfleet/sdk/directory/epoch-head';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryHarness } from '../testing/directory-harness.ts';
import { epochHeadJson } from './epoch-head.ts';

const h = new DirectoryHarness(new Uint8Array(32).fill(4), 'transparency/prod');
afterAll(() => h.close());

describe('signed epoch heads as the publisher makes them', () => {
  it('verify with the sdk and match their JSON form', async () => {
    const record = (await h.publish([['alice', 'k1']]))!;
    const head = verifyEpochHeadSignature(record.head, record.signature, h.ctx.signing.publicKey);
    expect(head).toMatchObject({
      namespace: 'transparency/prod',
      epoch: 1,
      rootHash: record.rootHash,
      timestamp: record.timestamp,
    });
    const json = epochHeadJson(record.head, record.signature);
    expect(json).toMatchObject({ epoch: 1, rootHash: Buffer.from(record.rootHash).toString('hex') });
    expect(Buffer.from(json.head, 'base64url').equals(Buffer.from(record.head))).toBe(true);
  });

  it('reject every single-byte mutation of the head and of the signature', async () => {
    const record = (await h.publish([['bob', 'k1']]))!;
    for (const [name, bytes] of [
      ['head', record.head],
      ['signature', record.signature],
    ] as const) {
      for (let i = 0; i < bytes.length; i++) {
        const mutated = Uint8Array.from(bytes);
        mutated[i]! ^= 0x01 << (i % 8);
        const [hd, sig] = name === 'head' ? [mutated, record.signature] : [record.head, mutated];
        expect(
          () => verifyEpochHeadSignature(hd, sig, h.ctx.signing.publicKey),
          `${name} byte ${i}`,
        ).toThrow();
      }
    }
  });
});
