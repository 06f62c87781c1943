import { describe, expect, it } from 'vitest';
import { derivePhase, statusSummary } from './status-summary.ts';
import { down, gone, type ObservationInput, OLD, observe, ZONES7 } from './test-observation.ts';

describe('derivePhase', () => {
  it.each<[string, ObservationInput, string]>([
    ['paused', { paused: true }, 'Paused'],
    [
      'nothing created yet',
      { bootstrapped: false, raft: null, members: { dc1: gone, dc2: gone, dc3: gone } },
      'Pending',
    ],
    [
      'forming',
      { bootstrapped: false, raft: null, members: { dc1: down, dc2: gone, dc3: gone } },
      'Bootstrapping',
    ],
    ['no leader', { leader: null }, 'Degraded'],
    ['quorum lost', { members: { dc2: down, dc3: down } }, 'Degraded'],
    ['adding a zone', { voters: ['dc1', 'dc2'] }, 'Scaling'],
    ['a learner', { voters: ['dc1', 'dc2'], learners: ['dc3'] }, 'Scaling'],
    ['old config on a member', { members: { dc3: { configHash: OLD } } }, 'Updating'],
    ['a member down', { members: { dc3: down } }, 'Degraded'],
    ['all well', {}, 'Available'],
  ])('%s -> %s', (_, o, phase) => {
    expect(derivePhase(observe(o))).toBe(phase);
  });
});

describe('statusSummary', () => {
  it('fills the printer columns and the member list', () => {
    const obs = observe({
      zones: ZONES7,
      leader: 'dc4',
      members: { dc2: down, dc7: { ...gone }, dc1: { node: 'node-dc1', hsmKeyId: 'ab12' } },
    });
    const s = statusSummary('backups', 9, obs);
    expect(s).toMatchObject({
      observedGeneration: 9,
      readyMembers: 5,
      quorum: 4,
      leader: 'dc4',
      term: 4,
      commitIndex: 100,
    });
    expect(s.phase).toBe('Degraded');
    expect(s.members?.find((m) => m.zone === 'dc1')).toEqual({
      zone: 'dc1',
      pod: 'backups-dc1',
      node: 'node-dc1',
      hsmKeyId: 'ab12',
      role: 'follower',
      matchIndex: 100,
      ready: true,
    });
    expect(s.members?.find((m) => m.zone === 'dc4')?.role).toBe('leader');
    expect(s.members?.find((m) => m.zone === 'dc2')?.ready).toBe(false);
    expect(s.members?.find((m) => m.zone === 'dc7')).not.toHaveProperty('pod');
  });

  it('leaves leader, term and commit out when no leader answered', () => {
    const s = statusSummary('backups', 1, observe({ raft: null }));
    expect(s).not.toHaveProperty('leader');
    expect(s).not.toHaveProperty('term');
    expect(s.readyMembers).toBe(3);
  });
});
