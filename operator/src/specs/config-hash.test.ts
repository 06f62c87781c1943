import { describe, expect, it } from 'vitest';
import { memberConfigHash } from './config-hash.ts';
import { testFleet } from './test-fleet.ts';

const base = testFleet().spec;
const hash = memberConfigHash(base);

describe('memberConfigHash', () => {
  it('is a stable sha256', () => {
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(memberConfigHash(testFleet().spec)).toBe(hash);
  });

  it.each([
    ['image', { image: 'ghcr.io/keyfleet/vault-node:0.2.0' }],
    ['pull policy', { imagePullPolicy: 'Always' as const }],
    ['guess limit', { guessLimit: 11 }],
    ['resources', { resources: { limits: { memory: '512Mi' } } }],
  ])('changes with the %s', (_, change) => {
    expect(memberConfigHash({ ...base, ...change })).not.toBe(hash);
  });

  it.each([
    ['zones', { zones: ['dc1', 'dc2', 'dc3'] }],
    ['pause', { paused: true }],
    ['update strategy', { updateStrategy: { maxUnavailable: 2 } }],
    ['attestation validity', { attestation: { validity: '24h' } }],
  ])('does not change with the %s (no restart needed)', (_, change) => {
    expect(memberConfigHash({ ...base, ...change })).toBe(hash);
  });

  it('does not depend on the order of resource names', () => {
    const a = memberConfigHash({ ...base, resources: { requests: { cpu: '1', memory: '1Gi' } } });
    const b = memberConfigHash({ ...base, resources: { requests: { memory: '1Gi', cpu: '1' } } });
    expect(a).toBe(b);
  });
});
