import { describe, expect, it } from 'vitest';
import { testFleet } from '../../specs/test-fleet.ts';
import { fleetObjects } from './fleet-objects.ts';

describe('fleetObjects', () => {
  it('lists the always-applied objects, identity and network first, all owned by the fleet', () => {
    const objects = fleetObjects(testFleet());
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      'ServiceAccount/backups-vault',
      'NetworkPolicy/backups-members',
      'Service/backups-peers',
      'Service/backups-client',
      'PodDisruptionBudget/backups-members',
    ]);
    for (const o of objects) expect(o.metadata?.ownerReferences?.[0]?.kind).toBe('VaultFleet');
  });
});
