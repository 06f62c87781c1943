import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { blake3 } from './blake3.ts';

const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
};

describe('blake3 (hash-wasm): the same digests as @noble/hashes', () => {
  it('agrees on every length class: empty, within a block, a chunk, many chunks, past the WASM buffer', () => {
    const lengths = [0, 1, 31, 32, 33, 63, 64, 65, 72, 80, 1023, 1024, 1025, 4096, 70_000, 200_000];
    for (let i = 0; i < 40; i++) lengths.push(Math.floor(Math.random() * 3000));
    for (const n of lengths) {
      const data = random(n);
      expect(bytesToHex(blake3(data)), `length ${n}`).toBe(bytesToHex(nobleBlake3(data)));
    }
  });

  it('hashes parts as their concatenation, however they are split', () => {
    for (let i = 0; i < 30; i++) {
      const parts = Array.from({ length: 1 + (i % 5) }, () => random(Math.floor(Math.random() * 100)));
      expect(bytesToHex(blake3(...parts))).toBe(bytesToHex(nobleBlake3(concatBytes(...parts))));
    }
  });

  it('returns a digest the next call does not overwrite', () => {
    const a = blake3(Uint8Array.of(1));
    const copy = a.slice();
    blake3(Uint8Array.of(2));
    expect(a).toEqual(copy);
    expect(a).toEqual(nobleBlake3(Uint8Array.of(1)));
  });
});
