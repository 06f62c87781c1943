// Decoder robustness: arbitrary and mutated inputs either decode or fail with an AkdError
// (never another exception), and the size limits stop oversized inputs before they are parsed.
import { create, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  auditFixtures,
  b64,
  directoryKey,
  historyFixtures,
  lookupFixtures,
} from '../../../test/interop/load.ts';
import { auditVerify } from './audit.ts';
import { hexToBytes } from './bytes.ts';
import {
  DEFAULT_LIMITS,
  decodeAppendOnlyProof,
  decodeHistoryProof,
  decodeLookupProof,
  decodeSingleAppendOnlyProof,
  encodeLookupProof,
} from './codec.ts';
import { AkdError } from './errors.ts';
import * as pb from './proto/akd_types_pb.generated.ts';
import { keyHistoryVerify, lookupVerify } from './verify.ts';

/** Runs f; passes if it returns or throws an AkdError, fails on any other exception. */
function onlyAkdErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof AkdError)) throw e;
  }
}

const lookups = lookupFixtures();
const lookup = lookups.lookups.find((l) => l.note === 'version 1 at epoch 5');
const histories = historyFixtures();
const history = histories.histories.find((h) => h.note === 'most recent 1 of 5');
const audits = auditFixtures();
const audit = audits.audits.find((a) => a.note === 'two transitions mid-history');
if (!lookup || !history || !audit) throw new Error('fixtures missing');

const decoders = [decodeLookupProof, decodeHistoryProof, decodeAppendOnlyProof, decodeSingleAppendOnlyProof];

/** An input derived from a real proof: splice random bytes in, cut, or duplicate a range. */
const mutated = (seed: Uint8Array) =>
  fc
    .tuple(
      fc.nat(seed.length),
      fc.nat(64),
      fc.uint8Array({ maxLength: 16 }),
      fc.constantFrom('replace', 'insert', 'delete', 'truncate', 'repeat'),
    )
    .map(([at, len, bytes, op]) => {
      const a = seed.subarray(0, at);
      const b = seed.subarray(at);
      switch (op) {
        case 'replace':
          return Uint8Array.from([...a, ...bytes, ...b.subarray(bytes.length)]);
        case 'insert':
          return Uint8Array.from([...a, ...bytes, ...b]);
        case 'delete':
          return Uint8Array.from([...a, ...b.subarray(len)]);
        case 'truncate':
          return a.slice();
        default:
          return Uint8Array.from([...a, ...b.subarray(0, len), ...b]);
      }
    });

describe('decoders under fuzzing', () => {
  it('random bytes: every decoder decodes or throws AkdError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const d of decoders) onlyAkdErrors(() => d(bytes));
      }),
      { numRuns: 2000, seed: 1 },
    );
  });

  it('mutated lookup proofs: decode and verify throw nothing but AkdError', () => {
    const seed = b64(lookup.proof);
    const pk = directoryKey(lookups.directories, lookup.directory);
    fc.assert(
      fc.property(mutated(seed), (bytes) => {
        onlyAkdErrors(() =>
          lookupVerify(
            pk,
            hexToBytes(lookup.root_hash),
            BigInt(lookup.epoch),
            hexToBytes(lookup.username),
            decodeLookupProof(bytes),
          ),
        );
      }),
      { numRuns: 300, seed: 2 },
    );
  });

  it('mutated history proofs: decode and verify throw nothing but AkdError', () => {
    const seed = b64(history.proof);
    const pk = directoryKey(histories.directories, history.directory);
    fc.assert(
      fc.property(mutated(seed), (bytes) => {
        onlyAkdErrors(() =>
          keyHistoryVerify(
            pk,
            hexToBytes(history.root_hash),
            BigInt(history.epoch),
            hexToBytes(history.username),
            decodeHistoryProof(bytes),
            { historyParams: { kind: 'most-recent', n: 1 } },
          ),
        );
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('mutated audit proofs: decode and verify throw nothing but AkdError', () => {
    const seed = b64(audit.proof);
    const hashes = audit.root_hashes.map(hexToBytes);
    fc.assert(
      fc.property(mutated(seed), (bytes) => {
        onlyAkdErrors(() => auditVerify(hashes, decodeAppendOnlyProof(bytes)));
        onlyAkdErrors(() => decodeSingleAppendOnlyProof(bytes));
      }),
      { numRuns: 300, seed: 4 },
    );
  });
});

describe('strict and bounded decoding', () => {
  const good = b64(lookup.proof);

  it('rejects an input over maxBytes before parsing it', () => {
    const e = (() => {
      try {
        decodeLookupProof(new Uint8Array(DEFAULT_LIMITS.lookup.maxBytes + 1));
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(AkdError);
    expect((e as AkdError).code).toBe('limit');
  });

  it('rejects more nested messages than maxMessages: 200k empty sibling proofs in 600 KB', () => {
    // MembershipProof { sibling_proofs: [{}, {}, ...] } as a LookupProof.existence_proof
    const n = 200_000;
    const inner = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) inner.set([0x1a, 0x00], 2 * i);
    const mp = toBinary(pb.MembershipProofSchema, create(pb.MembershipProofSchema));
    expect(mp.length).toBe(0);
    const len = inner.length;
    const header = [0x2a, 0x80 | (len & 0x7f), 0x80 | ((len >> 7) & 0x7f), len >> 14];
    const bytes = Uint8Array.from([...header, ...inner]);
    expect(() => decodeLookupProof(bytes)).toThrow(/nested messages/);
  });

  it('limits the sibling count of a path and the size of bytes fields', () => {
    const proof = decodeLookupProof(good);
    const steps = proof.existenceProof.siblingProofs;
    const long = {
      ...proof,
      existenceProof: { ...proof.existenceProof, siblingProofs: Array(257).fill(steps[0]) },
    };
    expect(() => decodeLookupProof(encodeLookupProof(long))).toThrow(/more than 256/);
    const big = { ...proof, value: new Uint8Array(DEFAULT_LIMITS.lookup.maxFieldBytes + 1) };
    expect(() => decodeLookupProof(encodeLookupProof(big))).toThrow(/more than/);
  });

  it('rejects unknown fields, which akd would skip', () => {
    const bytes = Uint8Array.from([...good, 0x58, 0x01]); // field 11, varint
    expect(() => decodeLookupProof(bytes)).toThrow(/unknown field 11/);
  });

  it('rejects directions other than 0 and 1 (akd masks with 0x0f), and more than one sibling', () => {
    const proof = decodeLookupProof(good);
    const step = proof.existenceProof.siblingProofs[0];
    if (!step) throw new Error('no step');
    const bad = {
      ...proof,
      existenceProof: {
        ...proof.existenceProof,
        siblingProofs: [{ ...step, direction: 0x10 as 0 }, ...proof.existenceProof.siblingProofs.slice(1)],
      },
    };
    expect(() => decodeLookupProof(encodeLookupProof(bad))).toThrow(/direction is 16/);
  });

  it('requires every field akd requires', () => {
    const proof = decodeLookupProof(good);
    const noNonce = toBinary(
      pb.LookupProofSchema,
      create(pb.LookupProofSchema, {
        epoch: proof.epoch,
        value: proof.value,
        version: proof.version,
      }),
    );
    expect(() => decodeLookupProof(noNonce)).toThrow(/required field/);
  });
});
