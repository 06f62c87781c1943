import { describe, expect, it } from 'vitest';
import { assessQuorum, isHealthy, keepsQuorumWithout } from './quorum.ts';
import { down, gone, healthyMember, observe, ZONES7 } from './test-observation.ts';

describe('quorum', () => {
  it('a member is healthy only when running, ready and caught up', () => {
    expect(isHealthy(healthyMember('dc1'))).toBe(true);
    expect(isHealthy(healthyMember('dc1', { ready: false }))).toBe(false);
    expect(isHealthy(healthyMember('dc1', { caughtUp: false }))).toBe(false);
    expect(isHealthy(healthyMember('dc1', { pod: 'terminating' }))).toBe(false);
  });

  it.each([
    [0, true, 3],
    [3, true, 0],
    [4, false, 0],
  ])('7 voters with %i down: quorum held %s', (downCount, held) => {
    const members = Object.fromEntries(ZONES7.slice(7 - downCount).map((z) => [z, down]));
    const q = assessQuorum(observe({ zones: ZONES7, members }));
    expect(q.quorum).toBe(4);
    expect(q.faultTolerance).toBe(3);
    expect(q.healthyVoters).toHaveLength(7 - downCount);
    expect(q.unavailableVoters).toHaveLength(downCount);
    expect(q.hasQuorum).toBe(held);
  });

  it('counts the leader view of voters, not the spec', () => {
    const q = assessQuorum(
      observe({ zones: ['dc1', 'dc2', 'dc3'], voters: ['dc1', 'dc2', 'dc3', 'dc4', 'dc5'] }),
    );
    expect(q.voters).toHaveLength(5);
    expect(q.quorum).toBe(3);
  });

  it('without a leader nobody counts: nothing can commit', () => {
    const q = assessQuorum(observe({ leader: null }));
    expect(q.healthyVoters).toEqual([]);
    expect(q.hasQuorum).toBe(false);
    expect(assessQuorum(observe({ raft: null })).voters).toEqual(['dc1', 'dc2', 'dc3']);
  });

  it('keepsQuorumWithout: would the rest still commit', () => {
    const q = assessQuorum(observe({ members: { dc3: gone } }));
    expect(keepsQuorumWithout(q, 'dc3')).toBe(true);
    expect(keepsQuorumWithout(q, 'dc2')).toBe(false);
    expect(keepsQuorumWithout(q, 'dc2', 2)).toBe(false);
    expect(keepsQuorumWithout(q, 'dc3', 2)).toBe(true);
  });
});
