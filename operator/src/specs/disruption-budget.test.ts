import { describe, expect, it } from 'vitest';
import { disruptionBudget } from './disruption-budget.ts';
import { faultTolerance, quorumSize } from './quorum-size.ts';
import { testFleet } from './test-fleet.ts';

const zones = (n: number) => Array.from({ length: n }, (_, i) => `dc${i + 1}`);

describe('disruptionBudget', () => {
  it.each([
    [3, 2, 1],
    [5, 3, 2],
    [7, 4, 3],
    [9, 5, 4],
  ])('%i members: quorum %i, at most %i unavailable', (members, quorum, maxUnavailable) => {
    expect(quorumSize(members)).toBe(quorum);
    expect(faultTolerance(members)).toBe(maxUnavailable);
    const pdb = disruptionBudget(testFleet({ zones: zones(members) }));
    expect(pdb.spec?.maxUnavailable).toBe(maxUnavailable);
  });

  it('selects the members and lets unhealthy members be evicted', () => {
    const pdb = disruptionBudget(testFleet());
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.metadata?.name).toBe('backups-members');
    expect(pdb.spec?.selector?.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'member' });
    expect(pdb.spec?.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
  });
});
