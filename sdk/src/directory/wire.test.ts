// The response parsers take anything JSON.parse can return: they accept what a reader
// serves and reject everything else with a DirectoryVerificationError, never another error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirectoryVerificationError } from './errors.ts';
import { parseAuditResponse, parseEpochHeadJson, parseHistoryResponse, parseLookupResponse } from './wire.ts';

const head = {
  namespace: 'ns',
  epoch: 3,
  rootHash: 'ab'.repeat(32),
  previousRootHash: 'cd'.repeat(32),
  timestamp: 5,
  head: 'AAAA',
  signature: 'AA',
};

function onlyOurErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DirectoryVerificationError);
  }
}

describe('directory response parsers', () => {
  it('parse what a reader serves', () => {
    expect(parseEpochHeadJson(head).claimed.rootHash).toBe(head.rootHash);
    expect(parseLookupResponse({ epoch: head, version: 2, proof: 'AQID' }, 10).proof).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    expect(
      parseHistoryResponse({ epoch: head, params: { kind: 'most-recent', n: 2 }, proof: '' }, 10).params,
    ).toEqual({ kind: 'most-recent', n: 2 });
    const audit = parseAuditResponse(
      {
        epoch: 1,
        blobs: [{ name: 'x', previousRootHash: head.rootHash, rootHash: head.rootHash, proof: 'AQ' }],
      },
      10,
    );
    expect(audit.blobs[0]!.proof).toEqual(new Uint8Array([1]));
  });

  it.each([
    [
      'a proof over the limit',
      () => parseLookupResponse({ epoch: head, version: 1, proof: 'AQIDBA' }, 3),
      'longer than',
    ],
    ['padding', () => parseLookupResponse({ epoch: head, version: 1, proof: 'AQ==' }, 10), 'not base64url'],
    [
      'a non-canonical last character',
      () => parseLookupResponse({ epoch: head, version: 1, proof: 'AR' }, 10),
      'not canonical',
    ],
    [
      'version 0',
      () => parseLookupResponse({ epoch: head, version: 0, proof: '' }, 10),
      'version: not an integer >= 1',
    ],
    [
      'an upper-case root',
      () => parseEpochHeadJson({ ...head, rootHash: 'AB'.repeat(32) }),
      'rootHash: not 64 lowercase hex',
    ],
    ['a fractional epoch', () => parseEpochHeadJson({ ...head, epoch: 1.5 }), 'epoch: not an integer'],
    [
      'unknown history params',
      () => parseHistoryResponse({ epoch: head, params: { kind: 'all' }, proof: '' }, 1),
      'kind is neither',
    ],
    [
      'too many audit blobs',
      () => parseAuditResponse({ epoch: 1, blobs: new Array(17).fill({}) }, 1),
      'more than 16',
    ],
  ])('reject %s', (_name, f, message) => {
    expect(f).toThrow(DirectoryVerificationError);
    expect(f).toThrow(message);
  });

  it('throw only DirectoryVerificationError for arbitrary JSON', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const nearHead = fc.record({ ...Object.fromEntries(Object.keys(head).map((k) => [k, json])) });
    fc.assert(
      fc.property(json, nearHead, (anything, h) => {
        onlyOurErrors(() => parseEpochHeadJson(anything));
        onlyOurErrors(() => parseEpochHeadJson(h));
        onlyOurErrors(() => parseLookupResponse({ epoch: h, version: anything, proof: anything }, 100));
        onlyOurErrors(() => parseHistoryResponse({ epoch: head, params: anything, proof: '' }, 100));
        onlyOurErrors(() => parseAuditResponse({ epoch: 1, blobs: [anything] }, 100));
      }),
      { numRuns: 300 },
    );
  });
});
