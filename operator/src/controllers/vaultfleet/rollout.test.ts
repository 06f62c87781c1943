import { describe, expect, it } from 'vitest';
import { nextStep, type RolloutAction } from './rollout.ts';
import { down, gone, NEW, type ObservationInput, OLD, observe, ZONES3, ZONES7 } from './test-observation.ts';

type Row = [name: string, input: ObservationInput, action: Partial<RolloutAction>, reason: string];

const outdated = { configHash: OLD };
const first5 = ZONES7.slice(0, 5);

// State in -> next step out. Each row is one branch of rollout.ts; the dangerous ones say so.
const table: Row[] = [
  // paused
  [
    'paused: nothing, even with work to do',
    { paused: true, members: { dc2: outdated } },
    { kind: 'None' },
    'Paused',
  ],

  // bootstrap
  [
    'bootstrap: create the first initial member',
    { bootstrapped: false, raft: null, members: { dc1: gone, dc2: gone, dc3: gone } },
    { kind: 'CreateMember', zone: 'dc1', clusterState: 'new' },
    'CreatingMember',
  ],
  [
    'bootstrap: create the next initial member',
    { bootstrapped: false, raft: null, members: { dc1: down, dc2: gone, dc3: gone } },
    { kind: 'CreateMember', zone: 'dc2', clusterState: 'new' },
    'CreatingMember',
  ],
  [
    'bootstrap: all created, wait for a leader',
    { bootstrapped: false, raft: null, members: { dc1: down, dc2: down, dc3: down } },
    { kind: 'Wait' },
    'Bootstrapping',
  ],
  [
    'bootstrap: replace a failed initial pod',
    { bootstrapped: false, raft: null, members: { dc2: { ...down, pod: 'failed' } } },
    { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-failed' },
    'RecreatingMember',
  ],
  [
    'DANGER bootstrap: zones changed before forming, could split into two clusters',
    { bootstrapped: false, raft: null, bootstrapZones: ['dc1', 'dc2', 'dc4'], members: { dc3: gone } },
    { kind: 'Wait' },
    'ZonesChangedDuringBootstrap',
  ],

  [
    'DANGER formed but not yet recorded: a member that lost its data is removed, never re-created as new',
    { bootstrapped: false, members: { dc3: { ...gone, claim: 'missing' } } },
    { kind: 'RemoveMember', zone: 'dc3' },
    'RemovingMember',
  ],

  // no leader
  [
    'no leader: restart a member whose pod is gone and data intact',
    { raft: null, members: { dc1: down, dc2: gone } },
    { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-missing' },
    'RecreatingMember',
  ],
  [
    'DANGER no leader: never start an empty voter (its log is gone)',
    { raft: null, members: { dc1: down, dc2: { ...gone, claim: 'missing' } } },
    { kind: 'Wait' },
    'NoLeader',
  ],
  [
    'DANGER 2 of 3 down and no leader: do nothing',
    { leader: null, members: { dc2: down, dc3: { ...down, ...outdated } } },
    { kind: 'Wait' },
    'NoLeader',
  ],
  [
    'no leader: move a member off a node lost for 10 minutes',
    { leader: null, members: { dc3: { ...down, nodeReady: false, nodeNotReadySeconds: 600 } } },
    { kind: 'RecreateMember', zone: 'dc3', cause: 'node-lost' },
    'RecreatingMember',
  ],

  // one membership change at a time
  [
    'membership change in flight: wait for it',
    {
      learners: ['dc4'],
      zones: ['dc1', 'dc2', 'dc3', 'dc4', 'dc5'],
      voters: ZONES3,
      pendingChange: { kind: 'add-learner', zone: 'dc4' },
    },
    { kind: 'Wait' },
    'MembershipChangePending',
  ],

  // heal
  [
    'DANGER heal before waiting: a pending change may need exactly the member whose pod is gone',
    { pendingChange: { kind: 'remove', zone: 'dc3' }, members: { dc2: gone } },
    { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-missing' },
    'RecreatingMember',
  ],

  [
    'heal: pod deleted',
    { members: { dc3: gone } },
    { kind: 'RecreateMember', zone: 'dc3', cause: 'pod-missing' },
    'RecreatingMember',
  ],
  [
    'heal: pod failed (evicted)',
    { members: { dc2: { ...down, pod: 'failed' } } },
    { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-failed' },
    'RecreatingMember',
  ],
  [
    'heal: node NotReady past the limit',
    { members: { dc2: { ...down, nodeReady: false, nodeNotReadySeconds: 301 } } },
    { kind: 'RecreateMember', zone: 'dc2', cause: 'node-lost' },
    'RecreatingMember',
  ],
  [
    'heal: node NotReady only briefly, wait (could be a blip)',
    { members: { dc2: { ...down, nodeReady: false, nodeNotReadySeconds: 30 } } },
    { kind: 'Wait' },
    'WaitingForMembers',
  ],
  [
    'heal: follower lost its volume, remove it first',
    { members: { dc2: { claim: 'lost' } } },
    { kind: 'RemoveMember', zone: 'dc2' },
    'RemovingMember',
  ],
  [
    'heal: follower claim deleted while pod gone, remove it first',
    { members: { dc2: { ...gone, claim: 'missing' } } },
    { kind: 'RemoveMember', zone: 'dc2' },
    'RemovingMember',
  ],
  [
    'heal: leader lost its volume, transfer leadership first',
    { members: { dc1: { claim: 'lost' }, dc3: { matchIndex: 120 } } },
    { kind: 'TransferLeadership', from: 'dc1', to: 'dc3' },
    'TransferringLeadership',
  ],
  [
    'DANGER heal: removing the data-lost member would leave no quorum',
    { members: { dc2: down, dc3: { claim: 'lost' } } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],

  [
    'DANGER heal: a stale leader without quorum does not change membership, even where Raft would let it',
    { voters: ['dc1', 'dc2'], leader: 'dc2', members: { dc1: { ...gone, claim: 'missing' } } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],

  [
    'degenerate one-voter group whose leader lost its volume: nobody to hand over to, wait',
    { voters: ['dc1'], members: { dc1: { claim: 'lost' } } },
    { kind: 'Wait' },
    'NoTransferTarget',
  ],

  // rejoin or join: zone in spec, not in the group
  [
    'rejoin: removed member still has its lost claim, replace both',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...down, claim: 'lost' } } },
    { kind: 'RecreateMember', zone: 'dc3', cause: 'data-lost' },
    'RecreatingMember',
  ],
  [
    'rejoin: claim gone but pod running on nothing, replace it',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...down, claim: 'missing' } } },
    { kind: 'RecreateMember', zone: 'dc3', cause: 'data-lost' },
    'RecreatingMember',
  ],
  [
    'rejoin: wait for the old pod to go',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...down, pod: 'terminating' } } },
    { kind: 'Wait' },
    'MemberTerminating',
  ],
  [
    'join: create the new zone as an existing-cluster member',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...gone, claim: 'missing' } } },
    { kind: 'CreateMember', zone: 'dc3', clusterState: 'existing' },
    'CreatingMember',
  ],
  [
    'join: replace a failed joiner',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...down, pod: 'failed' } } },
    { kind: 'RecreateMember', zone: 'dc3', cause: 'pod-failed' },
    'RecreatingMember',
  ],
  [
    'join: wait for the pod to start',
    { voters: ['dc1', 'dc2'], members: { dc3: { ...down, pod: 'pending' } } },
    { kind: 'Wait' },
    'MemberStarting',
  ],
  [
    'join: add the started pod as a learner',
    { voters: ['dc1', 'dc2'], members: { dc3: down } },
    { kind: 'AddLearner', zone: 'dc3' },
    'AddingLearner',
  ],
  [
    'scale up 5 -> 7: create dc6 first',
    { zones: ZONES7, voters: first5, members: { dc6: gone, dc7: gone } },
    { kind: 'CreateMember', zone: 'dc6', clusterState: 'existing' },
    'CreatingMember',
  ],
  [
    'DANGER scale up without quorum: do not add',
    { zones: ZONES7, voters: first5, members: { dc2: down, dc3: down, dc4: down, dc6: down, dc7: gone } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],

  // learners
  [
    'learner catching up: wait',
    { voters: ['dc1', 'dc2'], learners: ['dc3'], members: { dc3: { ...down } } },
    { kind: 'Wait' },
    'LearnerCatchingUp',
  ],
  [
    'learner caught up: promote',
    { voters: ['dc1', 'dc2'], learners: ['dc3'], members: { dc3: { ready: false } } },
    { kind: 'Promote', zone: 'dc3' },
    'PromotingLearner',
  ],
  [
    'learner no longer wanted: remove',
    { learners: ['dc9'], members: { dc9: down } },
    { kind: 'RemoveMember', zone: 'dc9' },
    'RemovingMember',
  ],
  [
    'DANGER promote without quorum: wait',
    { voters: ['dc1', 'dc2'], learners: ['dc3'], members: { dc2: down } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],

  // scale down
  [
    'scale down 7 -> 5: remove a leaving follower',
    { zones: first5, voters: ZONES7 },
    { kind: 'RemoveMember', zone: 'dc6' },
    'RemovingMember',
  ],
  [
    'scale down: a leaving member that is down goes first',
    { zones: first5, voters: ZONES7, members: { dc7: down } },
    { kind: 'RemoveMember', zone: 'dc7' },
    'RemovingMember',
  ],
  [
    'scale down: the leader leaves last',
    { zones: first5, voters: ZONES7, leader: 'dc6' },
    { kind: 'RemoveMember', zone: 'dc7' },
    'RemovingMember',
  ],
  [
    'scale down: leaving leader hands over first',
    {
      zones: ZONES3,
      voters: ['dc1', 'dc2', 'dc3', 'dc4'],
      leader: 'dc4',
      members: { dc2: { matchIndex: 150 } },
    },
    { kind: 'TransferLeadership', from: 'dc4', to: 'dc2' },
    'TransferringLeadership',
  ],
  [
    'DANGER scale down without quorum: do not transfer',
    { zones: ZONES3, voters: ['dc1', 'dc2', 'dc3', 'dc4'], leader: 'dc4', members: { dc1: down, dc2: down } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],
  [
    'scale down: delete the pod of a zone that has left the group',
    { zones: first5, voters: first5, members: { dc6: {} } },
    { kind: 'DeleteMember', zone: 'dc6' },
    'DeletingMember',
  ],
  [
    'scale down: a retained claim of a zone that left is kept',
    { zones: first5, voters: first5, members: { dc6: { ...gone, claim: 'bound' } } },
    { kind: 'None' },
    'UpToDate',
  ],
  [
    'scale down: under Delete the claim goes too',
    {
      zones: first5,
      voters: first5,
      retentionPolicy: 'Delete',
      members: { dc6: { ...gone, claim: 'bound' } },
    },
    { kind: 'DeleteMember', zone: 'dc6' },
    'DeletingMember',
  ],

  // rolling update
  [
    'update: all out of date, a follower first',
    { members: { dc1: outdated, dc2: outdated, dc3: outdated } },
    { kind: 'UpdateMember', zone: 'dc2' },
    'UpdatingMember',
  ],
  [
    'update: wait for the updated member before the next',
    { members: { dc1: outdated, dc2: { ...down, pod: 'pending' }, dc3: outdated } },
    { kind: 'Wait' },
    'UpdateBudgetExhausted',
  ],
  [
    'update: a member that is down anyway goes first',
    { members: { dc2: outdated, dc3: { ...down, ...outdated } } },
    { kind: 'UpdateMember', zone: 'dc3' },
    'UpdatingMember',
  ],
  [
    'DANGER leader out of date with followers too: followers first',
    { members: { dc1: outdated, dc3: outdated } },
    { kind: 'UpdateMember', zone: 'dc3' },
    'UpdatingMember',
  ],
  [
    'DANGER leader the last out of date: transfer first, to the most caught up',
    { members: { dc1: outdated, dc3: { matchIndex: 101 } } },
    { kind: 'TransferLeadership', from: 'dc1', to: 'dc3' },
    'TransferringLeadership',
  ],
  [
    'update: the old leader, now a follower, is updated',
    { leader: 'dc3', members: { dc1: outdated } },
    { kind: 'UpdateMember', zone: 'dc1' },
    'UpdatingMember',
  ],
  [
    'DANGER 2 of 3 down with a stale leader: update nothing',
    { members: { dc2: { ...down, ...outdated }, dc3: { ...down, ...outdated } } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],
  [
    'DANGER transfer with no quorum: wait',
    { members: { dc1: outdated, dc2: down, dc3: down } },
    { kind: 'Wait' },
    'QuorumAtRisk',
  ],
  [
    'update 7 with maxUnavailable 2: a second member while one restarts',
    {
      zones: ZONES7,
      maxUnavailable: 2,
      members: { dc2: { ...down, pod: 'pending' }, dc3: outdated, dc4: outdated },
    },
    { kind: 'UpdateMember', zone: 'dc3' },
    'UpdatingMember',
  ],
  [
    'update 7 with maxUnavailable 2: not a third',
    { zones: ZONES7, maxUnavailable: 2, members: { dc2: down, dc3: down, dc4: outdated } },
    { kind: 'Wait' },
    'UpdateBudgetExhausted',
  ],
  [
    'DANGER maxUnavailable above fault tolerance is capped at members - quorum',
    { zones: ZONES7, maxUnavailable: 4, members: { dc2: down, dc3: down, dc4: down, dc5: outdated } },
    { kind: 'Wait' },
    'UpdateBudgetExhausted',
  ],
  [
    'update 7 with maxUnavailable 3: up to members - quorum',
    { zones: ZONES7, maxUnavailable: 3, members: { dc2: down, dc3: down, dc5: outdated } },
    { kind: 'UpdateMember', zone: 'dc5' },
    'UpdatingMember',
  ],

  // settled
  ['all healthy and up to date: nothing', {}, { kind: 'None' }, 'UpToDate'],
  [
    'a member not ready, nothing to change: wait for it',
    { members: { dc2: down } },
    { kind: 'Wait' },
    'WaitingForMembers',
  ],
];

describe('nextStep', () => {
  it.each(table)('%s', (_, input, action, reason) => {
    const got = nextStep(observe(input));
    expect(got).toMatchObject(action);
    expect(got.reason).toBe(reason);
    expect(got.message.length).toBeGreaterThan(10);
  });

  it('marks the dangerous waits as warnings', () => {
    expect(nextStep(observe({ raft: null, members: { dc2: down, dc3: down } })).eventType).toBe('Warning');
    expect(nextStep(observe({ members: { dc1: outdated, dc2: down, dc3: down } })).eventType).toBe('Warning');
    expect(nextStep(observe({ members: { dc2: outdated } })).eventType).toBe('Normal');
  });

  it('explains with numbers a person can check', () => {
    const got = nextStep(observe({ zones: ZONES7, members: { dc2: down, dc3: outdated } }));
    expect(got.message).toContain('1 voter(s) unavailable (dc2)');
    expect(got.message).toContain('6 of 7 members up to date');
  });

  it('walks a 3-member fleet through a full rolling update, leader last, one member at a time', () => {
    // Simulates the reconcile: apply each step to the observation and ask again.
    const hashes: Record<string, string> = { dc1: OLD, dc2: OLD, dc3: OLD };
    const state: Record<string, 'up' | 'gone' | 'starting'> = { dc1: 'up', dc2: 'up', dc3: 'up' };
    let leader = 'dc1';
    const log: string[] = [];
    for (let i = 0; i < 30; i++) {
      const members = Object.fromEntries(
        ZONES3.map((z) => [
          z,
          state[z] === 'gone'
            ? gone
            : state[z] === 'starting'
              ? { ...down, configHash: hashes[z] }
              : { configHash: hashes[z] },
        ]),
      );
      const s = nextStep(observe({ leader, members }));
      // Every step leaves at most one member not up.
      expect(Object.values(state).filter((v) => v !== 'up').length).toBeLessThanOrEqual(1);
      if (s.kind === 'None') break;
      if (s.kind === 'UpdateMember') {
        log.push(`update ${s.zone}`);
        state[s.zone] = 'gone';
      } else if (s.kind === 'RecreateMember') {
        hashes[s.zone] = NEW;
        state[s.zone] = 'starting';
      } else if (s.kind === 'TransferLeadership') {
        log.push(`transfer ${s.from}->${s.to}`);
        leader = s.to;
      } else if (s.kind === 'Wait') {
        for (const z of ZONES3) if (state[z] === 'starting') state[z] = 'up';
      } else {
        throw new Error(`unexpected ${s.kind}`);
      }
    }
    expect(log).toEqual(['update dc2', 'update dc3', 'transfer dc1->dc2', 'update dc1']);
    expect(Object.values(hashes)).toEqual([NEW, NEW, NEW]);
  });
});
