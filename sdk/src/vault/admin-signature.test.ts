import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { AdminVerifier, signAdminRequest } from './admin-signature.ts';

const secret = ed25519.utils.randomSecretKey();
const publicKey = ed25519.getPublicKey(secret);
const body = new TextEncoder().encode('{"kind":"remove","member":"backups-dc7"}');
const now = 1_900_000_000;

describe('admin request signatures', () => {
  it('accepts a fresh signed request once, and refuses its replay', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const s = signAdminRequest(secret, 'POST', '/v1/admin/membership', body, now);
    expect(verifier.verify('POST', '/v1/admin/membership', body, String(s.timestamp), s.signature)).toEqual({
      ok: true,
    });
    expect(verifier.verify('POST', '/v1/admin/membership', body, String(s.timestamp), s.signature)).toEqual({
      ok: false,
      reason: 'replayed request',
    });
  });

  it('binds method, path, body and time', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const s = signAdminRequest(secret, 'POST', '/v1/admin/membership', body, now);
    const other = new TextEncoder().encode('{"kind":"remove","member":"backups-dc1"}');
    for (const [method, path, b, t] of [
      ['GET', '/v1/admin/membership', body, now],
      ['POST', '/v1/admin/transfer-leadership', body, now],
      ['POST', '/v1/admin/membership', other, now],
      ['POST', '/v1/admin/membership', body, now + 1],
    ] as const) {
      expect(verifier.verify(method, path, b, String(t), s.signature).ok).toBe(false);
    }
  });

  it('refuses stale timestamps, other keys and malformed headers', () => {
    const verifier = new AdminVerifier(publicKey, () => now);
    const stale = signAdminRequest(secret, 'GET', '/v1/admin/status', new Uint8Array(), now - 61);
    expect(
      verifier.verify('GET', '/v1/admin/status', new Uint8Array(), String(stale.timestamp), stale.signature),
    ).toEqual({
      ok: false,
      reason: 'timestamp outside the allowed skew',
    });
    const forged = signAdminRequest(
      ed25519.utils.randomSecretKey(),
      'GET',
      '/v1/admin/status',
      new Uint8Array(),
      now,
    );
    expect(
      verifier.verify('GET', '/v1/admin/status', new Uint8Array(), String(now), forged.signature).ok,
    ).toBe(false);
    expect(verifier.verify('GET', '/v1/admin/status', new Uint8Array(), undefined, forged.signature).ok).toBe(
      false,
    );
    expect(verifier.verify('GET', '/v1/admin/status', new Uint8Array(), String(now), 'x').ok).toBe(false);
  });
});
