import { describe, expect, it } from 'vitest';
import { fleetOwnerReference, Label, memberLabels, memberSelector, membersSelector } from './labels.ts';
import { testFleet } from './test-fleet.ts';

describe('labels', () => {
  const fleet = testFleet();

  it('member selector picks one zone out of the fleet', () => {
    const labels = memberLabels(fleet, 'member', 'dc2');
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(membersSelector(fleet))).toBe(true);
    expect(matches(memberSelector(fleet, 'dc2'))).toBe(true);
    expect(matches(memberSelector(fleet, 'dc3'))).toBe(false);
    expect(labels[Label.zone]).toBe('dc2');
  });

  it('owner reference makes the fleet the controller and blocks its deletion', () => {
    expect(fleetOwnerReference(fleet)).toEqual({
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      name: 'backups',
      uid: fleet.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it('bounds the instance label of a long fleet name', () => {
    const long = testFleet({}, 'n'.repeat(200));
    expect(memberLabels(long, 'member', 'dc1')[Label.instance]?.length).toBeLessThanOrEqual(63);
  });
});
