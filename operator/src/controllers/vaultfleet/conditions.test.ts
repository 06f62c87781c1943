import { describe, expect, it } from 'vitest';
import {
  availableCondition,
  type Condition,
  computeConditions,
  degradedCondition,
  kubeTime,
  mergeConditions,
  progressingCondition,
  quorumHealthyCondition,
} from './conditions.ts';
import { nextStep } from './rollout.ts';
import { down, type ObservationInput, OLD, observe, ZONES7 } from './test-observation.ts';

function input(o: ObservationInput, generation = 5) {
  const observation = observe(o);
  return { observation, step: nextStep(observation), generation };
}

type Row = [name: string, o: ObservationInput, status: Condition['status'], reason: string];

describe('conditions', () => {
  it.each<Row>([
    ['healthy fleet', {}, 'True', 'QuorumAvailable'],
    ['not formed yet', { bootstrapped: false, raft: null }, 'False', 'Bootstrapping'],
    ['no leader', { leader: null }, 'False', 'NoLeader'],
    ['stale leader, 2 of 3 down', { members: { dc2: down, dc3: down } }, 'False', 'QuorumLost'],
    [
      '3 of 7 down still serves',
      { zones: ZONES7, members: { dc5: down, dc6: down, dc7: down } },
      'True',
      'QuorumAvailable',
    ],
  ])('Available: %s', (_, o, status, reason) => {
    expect(availableCondition(input(o))).toMatchObject({
      type: 'Available',
      status,
      reason,
      observedGeneration: 5,
    });
  });

  it.each<Row>([
    ['all healthy', { zones: ZONES7 }, 'True', 'QuorumHasMargin'],
    [
      'at the minimum',
      { zones: ZONES7, members: { dc5: down, dc6: down, dc7: down } },
      'False',
      'QuorumAtMinimum',
    ],
    [
      'lost',
      { zones: ZONES7, members: { dc4: down, dc5: down, dc6: down, dc7: down } },
      'False',
      'QuorumLost',
    ],
    ['no leader', { leader: null }, 'False', 'QuorumLost'],
  ])('QuorumHealthy: %s', (_, o, status, reason) => {
    expect(quorumHealthyCondition(input(o))).toMatchObject({ type: 'QuorumHealthy', status, reason });
  });

  it('QuorumHealthy says how many more the fleet can lose', () => {
    expect(quorumHealthyCondition(input({ zones: ZONES7, members: { dc7: down } })).message).toContain(
      'can lose 2 more',
    );
  });

  it.each<Row>([
    ['all healthy', {}, 'False', 'AllMembersHealthy'],
    ['one down', { members: { dc2: down } }, 'True', 'MembersUnavailable'],
  ])('Degraded: %s', (_, o, status, reason) => {
    expect(degradedCondition(input(o))).toMatchObject({ type: 'Degraded', status, reason });
  });

  it.each<Row>([
    ['up to date', {}, 'False', 'UpToDate'],
    ['rolling', { members: { dc2: { configHash: OLD } } }, 'True', 'UpdatingMember'],
    [
      'waiting on quorum to roll',
      { members: { dc1: { configHash: OLD }, dc2: down, dc3: down } },
      'True',
      'QuorumAtRisk',
    ],
    ['only waiting for a member to get ready', { members: { dc2: down } }, 'False', 'UpToDate'],
    ['paused', { paused: true, members: { dc2: { configHash: OLD } } }, 'Unknown', 'Paused'],
  ])('Progressing: %s', (_, o, status, reason) => {
    expect(progressingCondition(input(o))).toMatchObject({ type: 'Progressing', status, reason });
  });

  it('computes the four types', () => {
    expect(computeConditions(input({})).map((c) => c.type)).toEqual([
      'Available',
      'Progressing',
      'Degraded',
      'QuorumHealthy',
    ]);
  });
});

describe('mergeConditions', () => {
  const t0 = new Date('2026-11-23T10:00:00.123Z');
  const t1 = new Date('2026-11-23T11:00:00Z');

  it('stamps new conditions with the clock, at second precision', () => {
    const merged = mergeConditions(undefined, computeConditions(input({})), () => t0);
    expect(merged.every((c) => c.lastTransitionTime === '2026-11-23T10:00:00Z')).toBe(true);
    expect(kubeTime(t1)).toBe('2026-11-23T11:00:00Z');
  });

  it('keeps lastTransitionTime while the status stays, moves it when the status changes', () => {
    const first = mergeConditions(undefined, computeConditions(input({})), () => t0);
    // Same statuses, other messages (a different leader): times kept, messages updated.
    const same = mergeConditions(first, computeConditions(input({ leader: 'dc2' })), () => t1);
    const available = same.find((c) => c.type === 'Available')!;
    expect(available.lastTransitionTime).toBe('2026-11-23T10:00:00Z');
    expect(available.message).toContain('leader dc2');
    // Degraded flips: only it moves.
    const flipped = mergeConditions(same, computeConditions(input({ members: { dc2: down } })), () => t1);
    expect(flipped.find((c) => c.type === 'Degraded')?.lastTransitionTime).toBe('2026-11-23T11:00:00Z');
    expect(flipped.find((c) => c.type === 'Available')?.lastTransitionTime).toBe('2026-11-23T10:00:00Z');
  });

  it('leaves conditions of other types alone', () => {
    const attested: Condition = {
      type: 'Attested',
      status: 'True',
      reason: 'Logged',
      message: 'serial 4',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    const merged = mergeConditions([attested], computeConditions(input({})), () => t1);
    expect(merged).toHaveLength(5);
    expect(merged.find((c) => c.type === 'Attested')).toEqual(attested);
  });
});
