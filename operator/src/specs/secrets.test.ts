import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { Label } from './labels.ts';
import {
  manufacturerCaSecret,
  operatorAdminKeySecret,
  type RandomBytes,
  sealingKeySecret,
  secretKeyBytes,
} from './secrets.ts';
import { testFleet } from './test-fleet.ts';

/** Counts up from `start`, so each call's bytes are known and distinct. */
function counter(start: number): RandomBytes {
  let next = start;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

const fleet = testFleet();

describe('secrets', () => {
  it('sealing key: 32 injected random bytes, immutable, per member', () => {
    const s = sealingKeySecret(fleet, 'dc4', counter(1));
    expect(s.metadata?.name).toBe('backups-dc4-sealing-key');
    expect(s.metadata?.labels?.[Label.zone]).toBe('dc4');
    expect(s.immutable).toBe(true);
    expect(s.type).toBe('Opaque');
    expect(secretKeyBytes(s, 'sealing-key')).toEqual(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
  });

  it('different randomness, different key', () => {
    const a = secretKeyBytes(sealingKeySecret(fleet, 'dc4', counter(1)), 'sealing-key');
    const b = secretKeyBytes(sealingKeySecret(fleet, 'dc4', counter(2)), 'sealing-key');
    expect(a).not.toEqual(b);
  });

  it('refuses a random source that returns the wrong length', () => {
    expect(() => sealingKeySecret(fleet, 'dc1', (n) => new Uint8Array(n - 1))).toThrow(/returned 31 bytes/);
  });

  it('manufacturer CA: an Ed25519 seed and its public key, immutable', () => {
    const s = manufacturerCaSecret(fleet, counter(9));
    expect(s.metadata?.name).toBe('backups-manufacturer-ca');
    expect(s.immutable).toBe(true);
    const seed = secretKeyBytes(s, 'manufacturer-ca.ed25519.seed');
    const pub = secretKeyBytes(s, 'manufacturer-ca.ed25519.pub');
    expect(pub).toEqual(ed25519.getPublicKey(seed));
    const msg = new TextEncoder().encode('certify');
    expect(ed25519.verify(ed25519.sign(msg, seed), msg, pub)).toBe(true);
  });

  it('operator admin key is a separate key from the CA', () => {
    const ca = manufacturerCaSecret(fleet, counter(9));
    const admin = operatorAdminKeySecret(fleet, counter(100));
    expect(admin.metadata?.name).toBe('backups-operator-admin-key');
    const pub = secretKeyBytes(admin, 'operator-admin.ed25519.pub');
    expect(pub).toEqual(ed25519.getPublicKey(secretKeyBytes(admin, 'operator-admin.ed25519.seed')));
    expect(pub).not.toEqual(secretKeyBytes(ca, 'manufacturer-ca.ed25519.pub'));
  });

  it('follow the retention policy: kept with the claims under Retain, owned under Delete', () => {
    expect(sealingKeySecret(fleet, 'dc1', counter(0)).metadata?.ownerReferences).toBeUndefined();
    expect(manufacturerCaSecret(fleet, counter(0)).metadata?.ownerReferences).toBeUndefined();
    const deleting = testFleet({ storage: { size: '1Gi', retentionPolicy: 'Delete' } });
    expect(sealingKeySecret(deleting, 'dc1', counter(0)).metadata?.ownerReferences).toHaveLength(1);
    expect(operatorAdminKeySecret(deleting, counter(0)).metadata?.ownerReferences).toHaveLength(1);
  });

  it('secretKeyBytes says what is wrong', () => {
    const s = sealingKeySecret(fleet, 'dc1', counter(0));
    expect(() => secretKeyBytes(s, 'nope')).toThrow(/key nope is missing/);
    expect(() => secretKeyBytes({ ...s, data: { k: 'AAAA' } }, 'k')).toThrow(/holds 3 bytes, expected 32/);
  });
});
