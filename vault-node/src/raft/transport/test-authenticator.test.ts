import { describe, expect, it } from 'vitest';
import { Ed25519TestAuthenticator } from './test-authenticator.ts';

const members = ['n1', 'n2', 'n3'];
const body = new TextEncoder().encode('envelope digest');

describe('Ed25519TestAuthenticator', () => {
  it('noble and OpenSSL backends make identical signatures and accept each other', () => {
    const noble = Ed25519TestAuthenticator.fromSeed('s', 'n1', members, 'noble');
    const ossl = Ed25519TestAuthenticator.fromSeed('s', 'n1', members, 'openssl');
    const sig = noble.sign('n1', 'n2', body);
    expect(ossl.sign('n1', 'n2', body)).toEqual(sig);
    const n2 = Ed25519TestAuthenticator.fromSeed('s', 'n2', members, 'openssl');
    const n3 = Ed25519TestAuthenticator.fromSeed('s', 'n3', members, 'noble');
    expect(n2.verify('n1', 'n2', body, sig)).toBe(true);
    expect(n3.verify('n1', 'n2', body, sig)).toBe(true);
  });

  it.each(['noble', 'openssl'] as const)(
    '%s: refuses wrong member, tampered body, unknown member, other seed',
    (b) => {
      const n1 = Ed25519TestAuthenticator.fromSeed('s', 'n1', members, b);
      const n2 = Ed25519TestAuthenticator.fromSeed('s', 'n2', members, b);
      const sig = n1.sign('n1', 'n2', body);
      expect(n2.verify('n1', 'n2', body, sig)).toBe(true);
      expect(n2.verify('n3', 'n2', body, sig)).toBe(false);
      expect(n2.verify('n1', 'n2', body.slice(1), sig)).toBe(false);
      expect(n2.verify('mallory', 'n2', body, sig)).toBe(false);
      expect(n2.verify('n1', 'n2', body, sig.slice(1))).toBe(false);
      const other = Ed25519TestAuthenticator.fromSeed('other', 'n1', members, b);
      expect(n2.verify('n1', 'n2', body, other.sign('n1', 'n2', body))).toBe(false);
      expect(() => n1.sign('n2', 'n1', body)).toThrow(/cannot sign as n2/);
    },
  );
});
