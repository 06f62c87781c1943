import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AkdError } from './errors.ts';
import { getMarkerVersions, lookupMarkerVersion } from './markers.ts';

describe('marker versions', () => {
  // expected values from akd_core's unit test of get_marker_versions (test data)
  const cases: [bigint, bigint, bigint, bigint[], bigint[]][] = [
    [65n, 65n, 128n, [16n, 64n], [66n, 68n, 72n, 80n, 96n, 128n]],
    [85n, 85n, 65537n, [16n, 64n, 80n, 84n], [86n, 88n, 96n, 128n, 256n, 65536n]],
    [1n, 5n, 33n, [], [6n, 8n, 16n]],
    [2n, 5n, 33n, [], [6n, 8n, 16n]],
    [3n, 5n, 33n, [2n], [6n, 8n, 16n]],
    [6n, 12n, 128n, [4n], [13n, 14n, 16n]],
    [6n, 12n, 256n, [4n], [13n, 14n, 16n, 256n]],
    [130n, 130n, 256n, [16n, 128n], [131n, 132n, 136n, 144n, 160n, 192n, 256n]],
  ];
  for (const [s, e, epoch, past, future] of cases) {
    it(`(${s}, ${e}, ${epoch})`, () => {
      expect(getMarkerVersions(s, e, epoch)).toEqual({ past, future });
    });
  }

  it('invariants: past < start, end < future <= epoch, both sorted and unique', () => {
    const u64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(u64, u64, u64, (a, b, c) => {
        const [s, e, epoch] = [a, b, c].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)) as [
          bigint,
          bigint,
          bigint,
        ];
        const { past, future } = getMarkerVersions(s, e, epoch);
        for (const v of past) expect(v < s).toBe(true);
        for (const v of future) expect(v > e && v <= epoch).toBe(true);
        for (let i = 1; i < past.length; i++)
          expect((past[i - 1] as bigint) < (past[i] as bigint)).toBe(true);
        for (let i = 1; i < future.length; i++)
          expect((future[i - 1] as bigint) < (future[i] as bigint)).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('lookup marker is the largest power of two not above the version; version 0 is an error', () => {
    expect(lookupMarkerVersion(1n)).toBe(1n);
    expect(lookupMarkerVersion(300n)).toBe(256n);
    expect(lookupMarkerVersion((1n << 64n) - 1n)).toBe(1n << 63n);
    expect(() => lookupMarkerVersion(0n)).toThrow(AkdError);
  });
});
