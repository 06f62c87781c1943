import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message } from '../types.ts';
import {
  CHANNEL_MESSAGES,
  DEFAULT_LIMITS,
  DecodeError,
  decodeMessages,
  decodeSignedBody,
  encodeBody,
  encodeEnvelope,
} from './codec.ts';

const header = { channel: CHANNEL_MESSAGES, from: 'n1', to: 'n2', counter: 1_700_000_000_000_000 } as const;
const sig = new Uint8Array(64).fill(9);

const samples: Message[] = [
  { type: 'vote', from: 'n1', to: 'n2', term: 7, index: 120, logTerm: 6 },
  { type: 'vote-response', from: 'n1', to: 'n2', term: 7, reject: false },
  {
    type: 'append',
    from: 'n1',
    to: 'n2',
    term: 2 ** 40,
    index: 9,
    logTerm: 1,
    commit: 8,
    entries: [
      { index: 10, term: 2, type: 'normal', data: new Uint8Array([1, 2, 3]) },
      { index: 11, term: 2, type: 'conf-change', data: new TextEncoder().encode('{"kind":"remove"}') },
      { index: 12, term: 2, type: 'noop', data: new Uint8Array() },
    ],
  },
  {
    type: 'append-response',
    from: 'n1',
    to: 'n2',
    term: 3,
    index: 4,
    reject: true,
    rejectHint: 2,
    hintTerm: 1,
  },
  { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 5, context: new Uint8Array([0xaa]) },
  {
    type: 'snapshot',
    from: 'n1',
    to: 'n2',
    term: 4,
    snapshot: {
      metadata: { index: 100, term: 4, membership: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } },
      data: new Uint8Array(1000).fill(3),
    },
  },
  { type: 'timeout-now', from: 'n1', to: 'n2', term: 9 },
];

function roundTrip(messages: Message[]): Message[] {
  const body = encodeBody(sig, encodeEnvelope(header, messages));
  return decodeMessages(decodeSignedBody(body));
}

describe('raft wire codec', () => {
  it('round-trips every kind of field', () => {
    expect(roundTrip(samples)).toEqual(samples);
    expect(roundTrip([])).toEqual([]);
  });

  it('refuses a message that does not belong to the envelope (from/to binding)', () => {
    expect(() => encodeEnvelope(header, [{ type: 'vote', from: 'n3', to: 'n2', term: 1 }])).toThrow(
      /does not belong/,
    );
  });

  it('never trusts a length: every truncation fails with DecodeError', () => {
    const body = encodeBody(sig, encodeEnvelope(header, samples));
    for (let cut = 0; cut < body.length; cut++) {
      expect(() => decodeMessages(decodeSignedBody(body.subarray(0, cut))), `cut ${cut}`).toThrow(
        DecodeError,
      );
    }
  });

  it('refuses huge claimed counts and lengths without allocating them', () => {
    const env = encodeEnvelope(header, []);
    const lying = new Uint8Array(env);
    new DataView(lying.buffer).setUint32(lying.length - 4, 0xffffffff, true);
    expect(() => decodeMessages(decodeSignedBody(encodeBody(sig, lying)))).toThrow(/exceeds/);
    const small = { ...DEFAULT_LIMITS, maxEntryBytes: 2 };
    const body = encodeBody(sig, encodeEnvelope(header, [samples[2]!]));
    expect(() => decodeMessages(decodeSignedBody(body), small)).toThrow(/exceeds limit 2/);
  });

  it('fails only with DecodeError (or decodes) on arbitrarily mutated input', () => {
    const body = encodeBody(sig, encodeEnvelope(header, samples));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(body.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (edits) => {
          const mutated = new Uint8Array(body);
          for (const [at, v] of edits) mutated[at] = v;
          try {
            decodeMessages(decodeSignedBody(mutated));
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
