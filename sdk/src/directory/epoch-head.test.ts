import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { decodeEpochHead, encodeEpochHead, signEpochHead, verifyEpochHeadSignature } from './epoch-head.ts';
import { DirectoryVerificationError } from './errors.ts';

const secret = ed25519.utils.randomSecretKey();
const publicKey = ed25519.getPublicKey(secret);
const head = {
  namespace: 'prod/keys',
  epoch: 42,
  rootHash: new Uint8Array(32).fill(1),
  previousRootHash: new Uint8Array(32).fill(2),
  timestamp: 1_763_900_000_000,
};

describe('signed epoch heads', () => {
  it('encode, sign, verify and decode round-trip to the same head', () => {
    const signed = signEpochHead(head, secret);
    expect(verifyEpochHeadSignature(signed.head, signed.signature, publicKey)).toEqual(head);
    expect(decodeEpochHead(encodeEpochHead(head))).toEqual(head);
  });

  it('rejects every single-byte change of the signed bytes or the signature', () => {
    const signed = signEpochHead(head, secret);
    for (const [field, bytes] of [
      ['head', signed.head],
      ['signature', signed.signature],
    ] as const) {
      for (let i = 0; i < bytes.length; i++) {
        const mutated = bytes.slice();
        mutated[i]! ^= 0x80;
        const [h, s] = field === 'head' ? [mutated, signed.signature] : [signed.head, mutated];
        expect(() => verifyEpochHeadSignature(h, s, publicKey), `${field} byte ${i}`).toThrow(
          DirectoryVerificationError,
        );
      }
    }
  });

  it('rejects a signature by another key, a truncated signature and malformed keys', () => {
    const signed = signEpochHead(head, secret);
    const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(() => verifyEpochHeadSignature(signed.head, signed.signature, other)).toThrow(/does not verify/);
    expect(() => verifyEpochHeadSignature(signed.head, signed.signature.slice(1), publicKey)).toThrow(
      /does not verify/,
    );
    expect(() => verifyEpochHeadSignature(signed.head, signed.signature, new Uint8Array(31))).toThrow(
      /does not verify/,
    );
  });

  it('decodes only well-formed heads', () => {
    const bytes = encodeEpochHead(head);
    expect(() => decodeEpochHead(bytes.slice(0, -1))).toThrow(/malformed epoch head: wrong length/);
    expect(() => decodeEpochHead(new Uint8Array([...bytes, 0]))).toThrow(/malformed/);
    const other = bytes.slice();
    other[0] = 0x4a;
    expect(() => decodeEpochHead(other)).toThrow(/not a keyfleet\/akd-epoch-head\/v1 head/);
    const bigEpoch = bytes.slice();
    bigEpoch[26 + 2 + 9] = 0xff; // top byte of the epoch
    expect(() => decodeEpochHead(bigEpoch)).toThrow(/beyond 2\^53/);
    expect(() => encodeEpochHead({ ...head, namespace: '' })).toThrow(RangeError);
    expect(() => encodeEpochHead({ ...head, rootHash: new Uint8Array(31) })).toThrow(RangeError);
  });
});
