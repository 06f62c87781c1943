import { describe, expect, it } from 'vitest';
import { Label } from './labels.ts';
import { memberClaim } from './member-pvc.ts';
import { testFleet } from './test-fleet.ts';

describe('memberClaim', () => {
  it('claims the spec size from the spec class, for one writer', () => {
    const claim = memberClaim(testFleet(), 'dc2');
    expect(claim.metadata?.name).toBe('backups-dc2-data');
    expect(claim.metadata?.labels?.[Label.zone]).toBe('dc2');
    expect(claim.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      volumeMode: 'Filesystem',
      storageClassName: 'standard',
    });
  });

  it('leaves the class out when none is given, so the cluster default applies', () => {
    const claim = memberClaim(testFleet({ storage: { size: '2Gi', retentionPolicy: 'Retain' } }), 'dc1');
    expect(claim.spec).not.toHaveProperty('storageClassName');
    expect(claim.spec?.resources?.requests?.['storage']).toBe('2Gi');
  });

  it('is not owned by the fleet under Retain, so deleting the fleet keeps the data', () => {
    const claim = memberClaim(testFleet(), 'dc1');
    expect(claim.metadata?.ownerReferences).toBeUndefined();
    expect(claim.metadata?.labels?.[Label.retentionPolicy]).toBe('Retain');
  });

  it('is owned by the fleet under Delete', () => {
    const fleet = testFleet({ storage: { size: '1Gi', retentionPolicy: 'Delete' } });
    const claim = memberClaim(fleet, 'dc1');
    expect(claim.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VaultFleet', controller: true });
    expect(claim.metadata?.labels?.[Label.retentionPolicy]).toBe('Delete');
  });
});
