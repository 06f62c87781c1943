import { describe, expect, it } from 'vitest';
import { testFleet } from './test-fleet.ts';
import { trustBundle } from './trust-bundle.ts';

describe('trustBundle', () => {
  const ca = new Uint8Array(32).fill(0xab);
  const admin = new Uint8Array(32).fill(0x01);

  it('carries both public keys in hex, immutable, owned by the fleet', () => {
    const cm = trustBundle(testFleet(), { manufacturerCaPublicKey: ca, operatorAdminPublicKey: admin });
    expect(cm.metadata?.name).toBe('backups-trust');
    expect(cm.immutable).toBe(true);
    expect(cm.data).toEqual({
      'manufacturer-ca.ed25519.pub': 'ab'.repeat(32),
      'operator-admin.ed25519.pub': '01'.repeat(32),
    });
    expect(cm.metadata?.ownerReferences).toHaveLength(1);
  });

  it('refuses a key of the wrong length', () => {
    expect(() =>
      trustBundle(testFleet(), { manufacturerCaPublicKey: ca.subarray(1), operatorAdminPublicKey: admin }),
    ).toThrow(/manufacturer CA key must be a 32-byte/);
  });
});
