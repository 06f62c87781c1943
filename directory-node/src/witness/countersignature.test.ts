import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { decodeSignatureMessage, signCountersignature, verifyCountersignature } from './countersignature.ts';

const secret = ed25519.utils.randomSecretKey();
const publicKey = ed25519.getPublicKey(secret);
const message = {
  ciphersuite: 1,
  namespace: 'ns',
  timestamp: 1_700_000_000_000,
  epoch: 77,
  digest: new Uint8Array(32).fill(3),
};

describe('witness countersignature', () => {
  it('round-trips', () => {
    const s = signCountersignature(message, secret);
    expect(verifyCountersignature(s.message, s.signature, publicKey)).toEqual(message);
  });

  it('rejects every single-byte mutation of the message and of the signature', () => {
    const s = signCountersignature(message, secret);
    for (const [name, bytes] of [
      ['message', s.message],
      ['signature', s.signature],
    ] as const) {
      for (let i = 0; i < bytes.length; i++) {
        const m = Uint8Array.from(bytes);
        m[i]! ^= 0x80 >> (i % 8);
        const [msg, sig] = name === 'message' ? [m, s.signature] : [s.message, m];
        expect(() => verifyCountersignature(msg, sig, publicKey), `${name} byte ${i}`).toThrow();
      }
    }
  });

  it('decodes strictly', () => {
    const s = signCountersignature(message, secret);
    expect(() => decodeSignatureMessage(new Uint8Array([...s.message, 0x08, 0x01]))).toThrow(/repeated/);
    expect(() => decodeSignatureMessage(s.message.subarray(0, 4))).toThrow();
    expect(() => decodeSignatureMessage(new Uint8Array([0x30, 0x01]))).toThrow(/unexpected field/);
  });
});
