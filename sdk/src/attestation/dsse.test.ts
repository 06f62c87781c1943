import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import {
  COUNTERSIGNATURE_PAYLOAD_TYPE,
  countersign,
  decodeCountersignaturePayload,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  pae,
  signEnvelope,
  verifyEnvelope,
} from './dsse.ts';
import { ed25519Signer, keyIdOf, verifyEd25519 } from './ed25519.ts';
import { AttestationError } from './errors.ts';

const operator = ed25519Signer(new Uint8Array(32).fill(2));
const witness = ed25519Signer(new Uint8Array(32).fill(3));
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('DSSE', () => {
  it('PAE is the spec encoding (the example from the DSSE protocol document)', () => {
    const body = new TextEncoder().encode('hello world');
    expect(text(pae('http://example.com/HelloWorld', body))).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    // lengths are byte lengths, not character counts
    expect(text(pae('t', new TextEncoder().encode('é')))).toBe('DSSEv1 1 t 2 \xc3\xa9');
  });

  it('signs PAE(type, payload) with Ed25519 and names the key by SHA-256 of it', () => {
    const payload = new TextEncoder().encode('{"a":1}');
    const e = signEnvelope('application/vnd.in-toto+json', payload, operator);
    expect(e.signatures[0]?.keyid).toBe(keyIdOf(operator.publicKey));
    const sig = new Uint8Array(Buffer.from(e.signatures[0]!.sig, 'base64'));
    expect(verifyEd25519(operator.publicKey, pae(e.payloadType, payload), sig)).toBe(true);
    expect(verifyEd25519(operator.publicKey, payload, sig)).toBe(false);
    expect(verifyEnvelope(e, e.payloadType, [operator.publicKey], 'e', 'operator').keyid).toBe(
      e.signatures[0]?.keyid,
    );
    expect(() => verifyEnvelope(e, 'other/type', [operator.publicKey], 'e', 'operator')).toThrow(
      'e.payloadType',
    );
    expect(() => verifyEnvelope(e, e.payloadType, [witness.publicKey], 'e', 'operator')).toThrow(
      'not signed by a trusted operator key',
    );
  });

  it('a signature made over the bare payload or for another payload type does not verify', () => {
    const payload = new TextEncoder().encode('x');
    const e = signEnvelope('a', payload, operator);
    const retyped = { ...e, payloadType: 'b' };
    expect(() => verifyEnvelope(retyped, 'b', [operator.publicKey], 'e', 'operator')).toThrow(
      'does not verify',
    );
  });

  it('the countersignature binds the envelope digest and the operator signature', () => {
    const e = signEnvelope('application/vnd.in-toto+json', new TextEncoder().encode('{}'), operator);
    const at = Date.parse('2026-11-23T12:00:00Z');
    const c = countersign(e, witness, at);
    expect(c.payloadType).toBe(COUNTERSIGNATURE_PAYLOAD_TYPE);
    verifyEnvelope(c, COUNTERSIGNATURE_PAYLOAD_TYPE, [witness.publicKey], 'c', 'witness');
    const p = decodeCountersignaturePayload(envelopePayload(c));
    expect(p).toEqual({
      envelopeDigest: formatDigest(envelopeDigest(e)),
      operatorKeyid: e.signatures[0]?.keyid,
      operatorSignature: e.signatures[0]?.sig,
      witnessedAt: '2026-11-23T12:00:00Z',
      witnessedAtMs: at,
    });
    expect(() => countersign(e, witness, at + 1)).toThrow('whole seconds');
  });

  it('the countersignature payload must be canonical and complete', () => {
    const good = {
      envelopeDigest: `sha256:${'0'.repeat(64)}`,
      operatorKeyid: '1'.repeat(64),
      operatorSignature: Buffer.alloc(64, 7).toString('base64'),
      witnessedAt: '2026-11-23T12:00:00Z',
    };
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : canonicalJson(v));
    expect(decodeCountersignaturePayload(enc(good)).witnessedAt).toBe(good.witnessedAt);
    expect(() => decodeCountersignaturePayload(enc(JSON.stringify(good, null, 1)))).toThrow('canonical');
    expect(() => decodeCountersignaturePayload(enc({ ...good, extra: 1 }))).toThrow(AttestationError);
    expect(() =>
      decodeCountersignaturePayload(enc({ ...good, witnessedAt: '2026-13-01T00:00:00Z' })),
    ).toThrow(AttestationError);
  });

  it('canonical JSON sorts keys, has no whitespace and refuses what has no single encoding', () => {
    expect(canonicalJson({ b: [1, 'x', null, true], a: { d: 1, c: 2 } })).toBe(
      '{"a":{"c":2,"d":1},"b":[1,"x",null,true]}',
    );
    expect(() => canonicalJson({ a: 1.5 })).toThrow('$.a: only safe integers');
    expect(() => canonicalJson({ a: '\ud800' })).toThrow('well-formed');
    expect(() => canonicalJson({ a: new Date(0) })).toThrow('no canonical JSON form');
  });
});
