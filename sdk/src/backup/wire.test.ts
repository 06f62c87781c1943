import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64url } from '../hsm/bytes.ts';
import { messageDigest, messageToJson, parseErrorBody, parseMessage, schemas, WireError } from './wire.ts';

const b = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe('escrow wire messages', () => {
  const finish = {
    userId: 'alice_01-x',
    ticket: b(48),
    registrationRecord: b(192),
    replace: { sessionId: b(32, 2), tag: b(32, 3), nonce: b(24, 4), ciphertext: b(48, 5) },
  };

  it('round-trips through JSON, nested optional included', () => {
    const json = JSON.parse(JSON.stringify(messageToJson(schemas.registerFinishRequest, finish)));
    expect(json.ticket).toBe(base64url(b(48)));
    expect(parseMessage(schemas.registerFinishRequest, json)).toEqual(finish);
    const noReplace = { ...finish, replace: undefined };
    const json2 = messageToJson(schemas.registerFinishRequest, noReplace);
    expect('replace' in json2).toBe(false);
    expect(parseMessage(schemas.registerFinishRequest, json2)).toEqual({ ...noReplace, replace: undefined });
  });

  it('names the offending field', () => {
    const json = messageToJson(schemas.registerFinishRequest, finish) as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [{ ...json, extra: 1 }, /^extra: unknown field/],
      [{ ...json, userId: 'a.b' }, /^userId:/],
      [{ ...json, userId: 'x'.repeat(129) }, /^userId:/],
      [{ ...json, ticket: base64url(b(47)) }, /^ticket: expected 48 bytes, got 47/],
      [{ ...json, ticket: `${base64url(b(48))}=` }, /^ticket: expected unpadded base64url/],
      [{ ...json, ticket: 5 }, /^ticket: expected a string/],
      [{ ...json, replace: { sessionId: base64url(b(32)) } }, /^replace.tag: expected a string/],
      [{ ...json, replace: [] }, /^replace.: expected a JSON object/],
      [[json], /^body: expected a JSON object/],
      [null, /^body: expected a JSON object/],
    ];
    for (const [body, re] of cases) {
      expect(() => parseMessage(schemas.registerFinishRequest, body)).toThrow(WireError);
      expect(() => parseMessage(schemas.registerFinishRequest, body)).toThrow(re);
    }
  });

  it('accepts no value that differs from a valid message in one field unless it is that value again (property)', () => {
    const json = messageToJson(schemas.recoverStartRequest, { userId: 'bob', startLoginRequest: b(96, 9) });
    const keys = Object.keys(json);
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue(), (key, value) => {
        const body = { ...json, [key]: value };
        let parsed: unknown;
        try {
          parsed = parseMessage(schemas.recoverStartRequest, body);
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
          return;
        }
        // Only a value that is itself valid gets through.
        expect(JSON.stringify(messageToJson(schemas.recoverStartRequest, parsed as never))).toBe(
          JSON.stringify(body),
        );
      }),
    );
  });

  it('carries the optional ackNonce and ack (absent for older clients), checked like any field', () => {
    const del = { userId: 'carol', sessionId: b(32), tag: b(32, 2) };
    expect(messageToJson(schemas.deleteRequest, del)).not.toHaveProperty('ackNonce');
    const asked = { ...del, ackNonce: b(32, 7) };
    const json = messageToJson(schemas.deleteRequest, asked);
    expect(parseMessage(schemas.deleteRequest, json)).toEqual(asked);
    expect(() => parseMessage(schemas.deleteRequest, { ...json, ackNonce: base64url(b(31)) })).toThrow(
      /^ackNonce: expected 32 bytes, got 31/,
    );
    const answer = {
      member: 'backups-dc1',
      ack: { recordDigest: b(32), commandDigest: b(32), signature: b(64) },
    };
    expect(parseMessage(schemas.deleteResponse, messageToJson(schemas.deleteResponse, answer))).toEqual(
      answer,
    );
    expect(parseMessage(schemas.deleteResponse, { member: 'backups-dc1' })).toEqual({
      member: 'backups-dc1',
    });
  });

  it('digests a message canonically: every field, its presence, and nothing of the JSON spelling', () => {
    const del = { userId: 'carol', sessionId: b(32), tag: b(32, 2), ackNonce: b(32, 7) };
    const d = messageDigest(schemas.deleteRequest, del);
    expect(d).toHaveLength(32);
    const reparsed = parseMessage(
      schemas.deleteRequest,
      JSON.parse(JSON.stringify(messageToJson(schemas.deleteRequest, del))),
    );
    expect(messageDigest(schemas.deleteRequest, reparsed)).toEqual(d);
    const variants = [
      { ...del, ackNonce: b(32, 8) },
      { ...del, ackNonce: undefined },
      { ...del, userId: 'carol2' },
      { ...del, tag: b(32, 3) },
    ];
    const digests = new Set(
      [d, ...variants.map((v) => messageDigest(schemas.deleteRequest, v))].map((x) => base64url(x)),
    );
    expect(digests.size).toBe(variants.length + 1);
    // A nested optional's presence counts too.
    const finish = { userId: 'a', ticket: b(48), registrationRecord: b(192) };
    const withReplace = {
      ...finish,
      replace: { sessionId: b(32), tag: b(32), nonce: b(24), ciphertext: b(48) },
    };
    expect(messageDigest(schemas.registerFinishRequest, finish)).not.toEqual(
      messageDigest(schemas.registerFinishRequest, withReplace),
    );
  });

  it('parses error bodies of our shape only', () => {
    expect(parseErrorBody({ error: { code: 'locked', message: 'm' } })).toEqual({
      code: 'locked',
      message: 'm',
    });
    expect(parseErrorBody({ error: { code: 'teapot', message: 'm' } })).toBeNull();
    expect(parseErrorBody({ error: 'x' })).toBeNull();
    expect(parseErrorBody('x')).toBeNull();
  });
});
