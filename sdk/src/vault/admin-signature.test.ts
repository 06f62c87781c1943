import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { AdminVerifier, signAdminRequest } from './admin-signature.ts';

const secret = ed25519.utils.randomSecretKey();
const publicKey = ed25519.getPublicKey(secret);
const body = new TextEncoder().encode('{"kind":"remove","member":"backups-dc7"}');
const now = 1_900_000_000;
const empty = new Uint8Array();

describe('admin request signatures', () => {
  it('accepts a fresh signed request once, and refuses its replay', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const s = signAdminRequest(secret, 'POST', '/v1/admin/membership', body, now);
    const again = () =>
      verifier.verify('POST', '/v1/admin/membership', body, String(s.timestamp), s.signature, s.nonce);
    expect(again()).toEqual({ ok: true });
    expect(again()).toEqual({ ok: false, reason: 'replayed request' });
  });

  it('accepts the same call twice in one second: each carries its own nonce', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const a = signAdminRequest(secret, 'GET', '/v1/admin/status', empty, now);
    const b = signAdminRequest(secret, 'GET', '/v1/admin/status', empty, now);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.signature).not.toBe(b.signature);
    for (const s of [a, b]) {
      expect(verifier.verify('GET', '/v1/admin/status', empty, String(now), s.signature, s.nonce)).toEqual({
        ok: true,
      });
    }
  });

  it('binds method, path, body, time and nonce', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const s = signAdminRequest(secret, 'POST', '/v1/admin/membership', body, now);
    const other = new TextEncoder().encode('{"kind":"remove","member":"backups-dc1"}');
    for (const [method, path, b, t, nonce] of [
      ['GET', '/v1/admin/membership', body, now, s.nonce],
      ['POST', '/v1/admin/transfer-leadership', body, now, s.nonce],
      ['POST', '/v1/admin/membership', other, now, s.nonce],
      ['POST', '/v1/admin/membership', body, now + 1, s.nonce],
      ['POST', '/v1/admin/membership', body, now, '0'.repeat(32)],
    ] as const) {
      expect(verifier.verify(method, path, b, String(t), s.signature, nonce).ok).toBe(false);
    }
  });

  it('refuses stale timestamps, other keys and malformed headers', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const stale = signAdminRequest(secret, 'GET', '/v1/admin/status', empty, now - 61);
    expect(
      verifier.verify(
        'GET',
        '/v1/admin/status',
        empty,
        String(stale.timestamp),
        stale.signature,
        stale.nonce,
      ),
    ).toEqual({ ok: false, reason: 'timestamp outside the allowed skew' });
    const forged = signAdminRequest(ed25519.utils.randomSecretKey(), 'GET', '/v1/admin/status', empty, now);
    expect(
      verifier.verify('GET', '/v1/admin/status', empty, String(now), forged.signature, forged.nonce).ok,
    ).toBe(false);
    expect(
      verifier.verify('GET', '/v1/admin/status', empty, undefined, forged.signature, forged.nonce).ok,
    ).toBe(false);
    expect(verifier.verify('GET', '/v1/admin/status', empty, String(now), 'x', forged.nonce).ok).toBe(false);
    const good = signAdminRequest(secret, 'GET', '/v1/admin/status', empty, now);
    expect(verifier.verify('GET', '/v1/admin/status', empty, String(now), good.signature, undefined)).toEqual(
      {
        ok: false,
        reason: 'missing or malformed nonce',
      },
    );
    expect(verifier.verify('GET', '/v1/admin/status', empty, String(now), good.signature, 'NOT-HEX').ok).toBe(
      false,
    );
  });
});
