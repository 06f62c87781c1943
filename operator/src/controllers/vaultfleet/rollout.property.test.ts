// The safety rules of rollout.ts checked over thousands of random fleet states, not just the table.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faultTolerance, quorumSize } from '../../specs/quorum-size.ts';
import type { FleetObservation, ObservedMember } from './observed.ts';
import { assessQuorum, isHealthy } from './quorum.ts';
import { nextStep } from './rollout.ts';
import { NEW, OLD } from './test-observation.ts';

// Mostly healthy members (so the deep branches are reached: updates, membership changes), with
// anything at all mixed in.
const memberArb = (zone: string): fc.Arbitrary<ObservedMember> =>
  fc.oneof({ arbitrary: healthyMemberArb(zone), weight: 3 }, { arbitrary: anyMemberArb(zone), weight: 1 });

const healthyMemberArb = (zone: string): fc.Arbitrary<ObservedMember> =>
  fc.record({
    zone: fc.constant(zone),
    pod: fc.constant('running' as const),
    ready: fc.constant(true),
    configHash: fc.constantFrom(OLD, NEW),
    nodeReady: fc.constant(true),
    claim: fc.constant('bound' as const),
    matchIndex: fc.integer({ min: 150, max: 200 }),
    caughtUp: fc.constant(true),
  });

const anyMemberArb = (zone: string): fc.Arbitrary<ObservedMember> =>
  fc.record({
    zone: fc.constant(zone),
    pod: fc.constantFrom('missing', 'pending', 'running', 'running', 'running', 'failed', 'terminating'),
    ready: fc.boolean(),
    configHash: fc.constantFrom(OLD, NEW, NEW),
    nodeReady: fc.boolean(),
    nodeNotReadySeconds: fc.integer({ min: 0, max: 900 }),
    claim: fc.constantFrom('bound', 'bound', 'bound', 'pending', 'missing', 'lost'),
    matchIndex: fc.integer({ min: 0, max: 200 }),
    caughtUp: fc.boolean(),
  }) as fc.Arbitrary<ObservedMember>;

const observationArb: fc.Arbitrary<FleetObservation> = fc
  .record({
    size: fc.constantFrom(3, 5, 7, 9),
    // -1: the group lacks the last spec zone (joining); +1: it has a zone that left; 0: same.
    drift: fc.constantFrom(-1, 0, 0, 1),
    maxUnavailable: fc.integer({ min: 1, max: 4 }),
    leaderPick: fc.integer({ min: -1, max: 9 }),
    retain: fc.boolean(),
    learner: fc.boolean(),
    bootstrapped: fc.boolean(),
    pending: fc.boolean(),
  })
  .chain((p) => {
    const zones = Array.from({ length: p.size }, (_, i) => `dc${i + 1}`);
    const groupZones = p.drift === -1 ? zones.slice(0, -1) : p.drift === 1 ? [...zones, 'dcx'] : zones;
    const learners = p.learner && p.drift === -1 ? [zones[zones.length - 1]!] : [];
    const leader = p.leaderPick < 0 ? null : (groupZones[p.leaderPick % groupZones.length] ?? null);
    const all = [...new Set([...zones, ...groupZones])];
    return fc.tuple(...all.map(memberArb)).map(
      (members): FleetObservation => ({
        spec: {
          zones,
          paused: false,
          updateStrategy: { maxUnavailable: p.maxUnavailable },
          storage: { size: '1Gi', retentionPolicy: p.retain ? 'Retain' : 'Delete' },
        },
        desiredConfigHash: NEW,
        bootstrapped: p.bootstrapped,
        members,
        raft: {
          leader,
          term: 2,
          commitIndex: 200,
          voters: groupZones,
          learners,
          pendingChange: p.pending ? { kind: 'remove', zone: 'dc1' } : null,
        },
      }),
    );
  });

describe('nextStep safety over random states', () => {
  it('never takes a step that would cost quorum, and never touches the leader directly', () => {
    fc.assert(
      fc.property(observationArb, (obs) => {
        const s = nextStep(obs);
        const q = assessQuorum(obs);
        const raft = obs.raft!;
        const m = (z: string) => obs.members.find((x) => x.zone === z)!;
        const hasFormedNow = obs.bootstrapped || raft.leader !== null;
        const needsCommit = ['AddLearner', 'Promote', 'RemoveMember', 'TransferLeadership'].includes(s.kind);

        expect(nextStep(obs)).toEqual(s); // deterministic
        if (raft.leader === null && obs.bootstrapped) expect(['RecreateMember', 'Wait']).toContain(s.kind);
        if (needsCommit) expect(q.hasQuorum).toBe(true);
        // One membership change at a time: while one is pending, only restarts in place.
        if (raft.pendingChange !== null && hasFormedNow) expect(['RecreateMember', 'Wait']).toContain(s.kind);
        // `new` only before any leader was ever seen: an empty member never forms a second cluster.
        if (s.kind === 'CreateMember' && s.clusterState === 'new') {
          expect(obs.bootstrapped || raft.leader !== null).toBe(false);
        }
        if (s.kind === 'RecreateMember' && s.cause === 'pod-missing')
          expect(['bound', 'pending']).toContain(m(s.zone).claim);
        if (s.kind === 'TransferLeadership') {
          expect(s.from).toBe(raft.leader);
          expect(s.to).not.toBe(s.from);
          expect(isHealthy(m(s.to))).toBe(true);
          expect(obs.spec.zones).toContain(s.to);
        }
        if (s.kind === 'UpdateMember' || s.kind === 'RemoveMember') {
          expect(s.zone).not.toBe(raft.leader);
          const voter = raft.voters.includes(s.zone);
          const votersAfter =
            s.kind === 'RemoveMember' && voter ? raft.voters.length - 1 : raft.voters.length;
          const healthyAfter = q.healthyVoters.filter((z) => z !== s.zone).length;
          expect(healthyAfter).toBeGreaterThanOrEqual(quorumSize(votersAfter));
        }
        if (s.kind === 'UpdateMember' && q.healthyVoters.includes(s.zone)) {
          const budget = Math.min(obs.spec.updateStrategy.maxUnavailable, faultTolerance(raft.voters.length));
          expect(q.unavailableVoters.length + 1).toBeLessThanOrEqual(budget);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
