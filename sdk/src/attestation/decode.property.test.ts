// The decoders take bytes from the network: whatever they are given, they return a value or throw
// AttestationError (never a TypeError, RangeError or anything else), and they refuse input over
// their size limits before parsing it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBundle, MAX_BUNDLE_BYTES } from './bundle.ts';
import { decodeCountersignaturePayload } from './dsse.ts';
import { AttestationError } from './errors.ts';
import { decodeStatement, MAX_STATEMENT_BYTES } from './statement.ts';
import { parseAttestationTrust } from './trust.ts';

const decoders = { decodeBundle, decodeStatement, decodeCountersignaturePayload, parseAttestationTrust };

function onlyOurError(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): void {
  try {
    decode(bytes);
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
  }
}

// JSON-shaped input reaches deeper into the decoders than random bytes do.
const jsonish = fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v)));
const bundleShaped = fc
  .record({
    envelope: fc.record({
      payload: fc.oneof(fc.base64String(), fc.string()),
      payloadType: fc.string(),
      signatures: fc.array(
        fc.record({
          keyid: fc.string({ unit: fc.constantFrom(...'0123456789abcdefA'), maxLength: 70 }),
          sig: fc.base64String(),
        }),
        { maxLength: 6 },
      ),
    }),
    countersignature: fc.jsonValue({ maxDepth: 2 }),
    directoryInclusion: fc.option(
      fc.record({ epoch: fc.oneof(fc.integer(), fc.double()), lookup: fc.jsonValue({ maxDepth: 3 }) }),
    ),
  })
  .map((v) => new TextEncoder().encode(JSON.stringify(v)));

describe('decoders', () => {
  for (const [name, decode] of Object.entries(decoders)) {
    it(`${name} throws only AttestationError on random bytes and random JSON`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (b) => onlyOurError(decode, b)),
        { seed: 9 },
      );
      fc.assert(
        fc.property(jsonish, (b) => onlyOurError(decode, b)),
        { seed: 9 },
      );
    });
  }

  it('decodeBundle throws only AttestationError on bundle-shaped JSON', () => {
    fc.assert(
      fc.property(bundleShaped, (b) => onlyOurError(decodeBundle, b)),
      { seed: 9 },
    );
  });

  it('deeply nested JSON within the size limit is an AttestationError, not a stack overflow', () => {
    const deep = new TextEncoder().encode(`${'['.repeat(400_000)}${']'.repeat(400_000)}`);
    expect(() => decodeBundle(deep)).toThrow(AttestationError);
  });

  it('refuses input over the size limits with a size reason', () => {
    const big = (n: number) => new TextEncoder().encode(`"${'a'.repeat(n - 2)}"`);
    expect(() => decodeBundle(big(MAX_BUNDLE_BYTES + 1))).toThrow(
      `bundle: larger than ${MAX_BUNDLE_BYTES} bytes`,
    );
    expect(() => decodeStatement(big(MAX_STATEMENT_BYTES + 1))).toThrow(
      `statement: larger than ${MAX_STATEMENT_BYTES} bytes`,
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), (extra) => {
        expect(() => decodeBundle(big(MAX_BUNDLE_BYTES + extra))).toThrow(AttestationError);
      }),
      { seed: 9, numRuns: 20 },
    );
  });
});
