import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditVerify, computeRootHash, parseAuditBlobName, verifyConsecutiveAppendOnly } from './audit.ts';
import { AkdError } from './errors.ts';
import { EMPTY_LABEL, getBit, getPrefix, longestCommonPrefix, type NodeLabel, nodeLabel } from './label.ts';
import type { AzksElement } from './types.ts';
import {
  EMPTY_LABEL_VALUE,
  EMPTY_NODE_HASH,
  hash,
  hashLeafWithCommitment,
  labelValue,
  parentHash,
  rootHashFromValue,
} from './whatsapp-v1.ts';

const te = new TextEncoder();
const leaf = (fill: number): ReturnType<typeof nodeLabel> => nodeLabel(new Uint8Array(32).fill(fill), 256);

describe('tree reconstruction', () => {
  it('a single leaf hangs off the root next to the empty placeholder', () => {
    const l = leaf(0x00);
    const v = hash(te.encode('v'));
    const expected = rootHashFromValue(parentHash(v, labelValue(l), EMPTY_NODE_HASH, EMPTY_LABEL_VALUE));
    expect(computeRootHash([{ label: l, value: v }])).toEqual(expected);
  });

  it('rejects duplicates, empty labels and nodes that are prefixes of other nodes', () => {
    const v = hash(te.encode('v'));
    expect(() =>
      computeRootHash([
        { label: leaf(1), value: v },
        { label: leaf(1), value: v },
      ]),
    ).toThrow(/dropped/);
    expect(() => computeRootHash([{ label: getPrefix(leaf(1), 0), value: v }])).toThrow(/empty label/);
    expect(() =>
      computeRootHash([
        { label: getPrefix(leaf(0xff), 3), value: v },
        { label: leaf(0xff), value: v },
      ]),
    ).toThrow(/dropped/);
  });

  // akd's regression test for the auditor bypass fixed in 0.13: an unchanged interior
  // node whose label is a strict prefix of an inserted leaf must not be dropped.
  it('rejects a value rewrite hidden under an unchanged prefix node', () => {
    const shell = nodeLabel(new Uint8Array(32), 1);
    const label = nodeLabel(new Uint8Array(32), 256);
    const parent = (l: typeof label, v: Uint8Array) =>
      parentHash(v, labelValue(l), EMPTY_NODE_HASH, EMPTY_LABEL_VALUE);
    const val1 = hash(te.encode('val1'));
    const val2 = hash(te.encode('val2'));
    const shellVal = parent(label, hashLeafWithCommitment(val1, 1n));
    const root1 = rootHashFromValue(parent(shell, shellVal));
    const root2 = rootHashFromValue(parent(shell, parent(label, hashLeafWithCommitment(val2, 2n))));
    const proof = { unchangedNodes: [{ label: shell, value: shellVal }], inserted: [{ label, value: val2 }] };
    expect(() => verifyConsecutiveAppendOnly(proof, root1, root2, 2n)).toThrow(/dropped/);
    expect(() => auditVerify([root1, root2], { proofs: [proof], epochs: [1n] })).toThrow(AkdError);
  });

  it('rejects inserted nodes that are not leaves and non-consecutive epochs', () => {
    const v = hash(te.encode('v'));
    const e: AzksElement = { label: getPrefix(leaf(7), 100), value: v };
    const empty = computeRootHash([]);
    expect(() =>
      verifyConsecutiveAppendOnly({ unchangedNodes: [], inserted: [e] }, empty, empty, 1n),
    ).toThrow(/not a 256-bit leaf/);
    const p = { unchangedNodes: [], inserted: [] };
    expect(() => auditVerify([empty, empty, empty], { proofs: [p, p], epochs: [1n, 3n] })).toThrow(
      /does not follow/,
    );
  });

  it('parses audit blob names strictly', () => {
    const h = 'ab'.repeat(32);
    expect(parseAuditBlobName(`7/${h}/${h}`).epoch).toBe(7n);
    for (const bad of [
      `07/${h}/${h}`,
      `7/${h}/${h}/x`,
      `7/${h.toUpperCase()}/${h}`,
      `7/${h}`,
      `18446744073709551616/${h}/${h}`,
    ]) {
      expect(() => parseAuditBlobName(bad), bad).toThrow(AkdError);
    }
  });
});

// Reference model: akd's batch insert into an empty tree, partitioning element lists level by
// level (no sorting). computeRootHash must agree with it, errors included.
function naiveRoot(elements: AzksElement[]): Uint8Array | 'error' {
  const sub = (es: AzksElement[]): { label: NodeLabel; value: Uint8Array } | 'error' => {
    if (es.length === 1) return es[0] as AzksElement;
    let lcp = (es[0] as AzksElement).label;
    for (const e of es) lcp = longestCommonPrefix(lcp, e.label);
    if (es.some((e) => e.label.labelLen <= lcp.labelLen)) return 'error';
    const l = sub(es.filter((e) => getBit(e.label, lcp.labelLen) === 0));
    const r = sub(es.filter((e) => getBit(e.label, lcp.labelLen) === 1));
    if (l === 'error' || r === 'error') return 'error';
    return { label: lcp, value: parentHash(l.value, labelValue(l.label), r.value, labelValue(r.label)) };
  };
  if (elements.length === 0) return computeRootHash([]);
  if (elements.some((e) => e.label.labelLen === 0)) return 'error';
  const sides = [0, 1].map((b) => elements.filter((e) => getBit(e.label, 0) === b));
  const [l, r] = sides.map((s) => (s.length === 0 ? { label: EMPTY_LABEL, value: EMPTY_NODE_HASH } : sub(s)));
  if (l === 'error' || r === 'error' || !l || !r) return 'error';
  return rootHashFromValue(parentHash(l.value, labelValue(l.label), r.value, labelValue(r.label)));
}

describe('computeRootHash agrees with a level-by-level reference', () => {
  it('on random sets of labels of mixed lengths, with shared prefixes and garbage bits', () => {
    const arbElement = fc
      .tuple(
        fc.constantFrom(0x00, 0x5a, 0xff),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 24 }),
        fc.constantFrom(1, 3, 8, 9, 200, 256, 256, 256),
      )
      .map(([fill, rnd, keep, len]) => {
        const v = new Uint8Array(32).fill(fill);
        v.set(rnd.subarray(0, keep)); // first `keep` bytes random, the rest shared
        return { label: nodeLabel(v, len), value: hash(v) };
      });
    fc.assert(
      fc.property(fc.array(arbElement, { maxLength: 12 }), (elements) => {
        const expected = naiveRoot(elements);
        if (expected === 'error') expect(() => computeRootHash(elements)).toThrow(AkdError);
        else expect(computeRootHash(elements)).toEqual(expected);
      }),
      { numRuns: 400, seed: 5 },
    );
  });
});
