import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  decodeEpochHead,
  type EpochHead,
  epochHeadJson,
  signEpochHead,
  verifyEpochHead,
} from './epoch-head.ts';

const secret = ed25519.utils.randomSecretKey();
const publicKey = ed25519.getPublicKey(secret);
const head: EpochHead = {
  namespace: 'transparency/prod',
  epoch: 4242,
  rootHash: new Uint8Array(32).fill(0xab),
  previousRootHash: new Uint8Array(32).fill(0xcd),
  timestamp: 1_700_000_123_456,
};

describe('epoch head', () => {
  it('round-trips through signing, verification and the JSON form', () => {
    const signed = signEpochHead(head, secret);
    expect(verifyEpochHead(signed.head, signed.signature, publicKey)).toEqual(head);
    const json = epochHeadJson(signed.head, signed.signature);
    expect(json).toMatchObject({
      namespace: head.namespace,
      epoch: 4242,
      rootHash: 'ab'.repeat(32),
      previousRootHash: 'cd'.repeat(32),
    });
    expect(decodeEpochHead(Buffer.from(json.head, 'base64url'))).toEqual(head);
  });

  it('rejects every single-byte mutation of the head and of the signature', () => {
    const signed = signEpochHead(head, secret);
    for (const [name, bytes] of [
      ['head', signed.head],
      ['signature', signed.signature],
    ] as const) {
      for (let i = 0; i < bytes.length; i++) {
        const mutated = Uint8Array.from(bytes);
        mutated[i]! ^= 0x01 << (i % 8);
        const [h, s] = name === 'head' ? [mutated, signed.signature] : [signed.head, mutated];
        expect(() => verifyEpochHead(h, s, publicKey), `${name} byte ${i}`).toThrow();
      }
    }
  });

  it('rejects a signature by another key and malformed encodings', () => {
    const signed = signEpochHead(head, secret);
    expect(() =>
      verifyEpochHead(signed.head, signed.signature, ed25519.getPublicKey(ed25519.utils.randomSecretKey())),
    ).toThrow();
    expect(() => decodeEpochHead(signed.head.subarray(0, signed.head.length - 1))).toThrow(/malformed/);
    expect(() => decodeEpochHead(new Uint8Array([...signed.head, 0]))).toThrow(/malformed/);
    expect(() => signEpochHead({ ...head, namespace: '' }, secret)).toThrow(/namespace/);
  });
});
