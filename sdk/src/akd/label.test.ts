import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_LABEL,
  getBit,
  getPrefix,
  isPrefixOf,
  labelToBytes,
  longestCommonPrefix,
  type NodeLabel,
  nodeLabel,
  prefixOrdering,
  ROOT_LABEL,
} from './label.ts';

// Reference model: a label as a string of '0'/'1'.
const bits = (l: NodeLabel) =>
  Array.from({ length: l.labelLen }, (_, i) => ((l.labelVal[i >> 3] as number) >> (7 - (i & 7))) & 1).join(
    '',
  );

const arbLabel = fc
  .tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 256 }))
  .map(([v, n]) => getPrefix(nodeLabel(v, 256), n));

describe('node labels', () => {
  it('bit order: bit 0 is the top bit of byte 0', () => {
    const v = new Uint8Array(32);
    v[0] = 0b10100000;
    const l = nodeLabel(v, 8);
    expect([0, 1, 2, 3].map((i) => getBit(l, i))).toEqual([1, 0, 1, 0]);
    expect(() => getBit(l, 8)).toThrow();
  });

  it('label bytes are u32be length then value', () => {
    const l = nodeLabel(new Uint8Array(32).fill(0xab), 256);
    const b = labelToBytes(l);
    expect(Array.from(b.subarray(0, 4))).toEqual([0, 0, 1, 0]);
    expect(b.subarray(4)).toEqual(l.labelVal);
  });

  it('prefix, lcp and ordering agree with the bit-string model', () => {
    fc.assert(
      fc.property(arbLabel, arbLabel, (a, b) => {
        const sa = bits(a);
        const sb = bits(b);
        expect(isPrefixOf(a, b)).toBe(sb.startsWith(sa));
        let n = 0;
        while (n < sa.length && n < sb.length && sa[n] === sb[n]) n++;
        expect(bits(longestCommonPrefix(a, b))).toBe(sa.slice(0, n));
        const ord = prefixOrdering(a, b);
        if (sa.length < sb.length && sb.startsWith(sa)) expect(ord).toBe(Number(sb[sa.length]));
        else expect(ord).toBeNull();
      }),
      { numRuns: 500, seed: 11 },
    );
  });

  it('the empty placeholder absorbs longest common prefixes, as in akd', () => {
    const l = nodeLabel(new Uint8Array(32).fill(0xff), 256);
    expect(longestCommonPrefix(EMPTY_LABEL, l)).toBe(EMPTY_LABEL);
    expect(longestCommonPrefix(l, EMPTY_LABEL)).toBe(EMPTY_LABEL);
    expect(getPrefix(l, 0)).toEqual(ROOT_LABEL);
  });

  it('rejects malformed labels', () => {
    expect(() => nodeLabel(new Uint8Array(31), 8)).toThrow(/32 bytes/);
    expect(() => nodeLabel(new Uint8Array(32), 257)).toThrow(/0\.\.256/);
  });
});
