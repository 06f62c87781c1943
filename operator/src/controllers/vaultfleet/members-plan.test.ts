import { describe, expect, it } from 'vitest';
import { testFleet } from '../../specs/test-fleet.ts';
import { type Operation, planStep } from './members-plan.ts';
import type { RolloutStep } from './rollout.ts';

const fleet = testFleet();
const ctx = { randomBytes: (n: number) => new Uint8Array(n).fill(1) };
const explain = { reason: 'R', message: 'm', eventType: 'Normal' as const };

function summary(ops: Operation[]): string[] {
  return ops.map((o) => {
    if (o.op === 'create-if-absent') return `create ${o.object.kind}/${o.object.metadata?.name}`;
    if (o.op === 'delete')
      return `delete ${o.ref.kind}/${o.ref.name}${o.gracePeriodSeconds === 0 ? ' now' : ''}`;
    return `admin ${o.path} ${JSON.stringify(o.body)}`;
  });
}

const plan = (step: RolloutStep, f = fleet) => summary(planStep(f, step, ctx));

describe('planStep', () => {
  it.each<[string, RolloutStep, string[]]>([
    [
      'create a member: key, claim, pod',
      { kind: 'CreateMember', zone: 'dc2', clusterState: 'existing', ...explain },
      [
        'create Secret/backups-dc2-sealing-key',
        'create PersistentVolumeClaim/backups-dc2-data',
        'create Pod/backups-dc2',
      ],
    ],
    [
      'restart a missing pod: the pod only, never a new claim',
      { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-missing', ...explain },
      ['create Pod/backups-dc2'],
    ],
    [
      'failed pod',
      { kind: 'RecreateMember', zone: 'dc2', cause: 'pod-failed', ...explain },
      ['delete Pod/backups-dc2'],
    ],
    [
      'lost node',
      { kind: 'RecreateMember', zone: 'dc2', cause: 'node-lost', ...explain },
      ['delete Pod/backups-dc2 now'],
    ],
    [
      'lost data: pod and claim',
      { kind: 'RecreateMember', zone: 'dc2', cause: 'data-lost', ...explain },
      ['delete Pod/backups-dc2', 'delete PersistentVolumeClaim/backups-dc2-data'],
    ],
    [
      'update: delete the pod gracefully',
      { kind: 'UpdateMember', zone: 'dc3', ...explain },
      ['delete Pod/backups-dc3'],
    ],
    [
      'zone left, claims retained',
      { kind: 'DeleteMember', zone: 'dc9', ...explain },
      ['delete Pod/backups-dc9'],
    ],
    [
      'add learner',
      { kind: 'AddLearner', zone: 'dc4', ...explain },
      ['admin /v1/admin/membership {"kind":"add-learner","member":"backups-dc4"}'],
    ],
    [
      'promote',
      { kind: 'Promote', zone: 'dc4', ...explain },
      ['admin /v1/admin/membership {"kind":"promote","member":"backups-dc4"}'],
    ],
    [
      'remove',
      { kind: 'RemoveMember', zone: 'dc4', ...explain },
      ['admin /v1/admin/membership {"kind":"remove","member":"backups-dc4"}'],
    ],
    [
      'transfer',
      { kind: 'TransferLeadership', from: 'dc1', to: 'dc3', ...explain },
      ['admin /v1/admin/transfer-leadership {"to":"backups-dc3"}'],
    ],
    ['wait', { kind: 'Wait', ...explain }, []],
    ['none', { kind: 'None', ...explain }, []],
  ])('%s', (_, step, expected) => {
    expect(plan(step)).toEqual(expected);
  });

  it('deletes claim and sealing key of a zone that left under the Delete policy', () => {
    const deleting = testFleet({ storage: { size: '1Gi', retentionPolicy: 'Delete' } });
    expect(plan({ kind: 'DeleteMember', zone: 'dc9', ...explain }, deleting)).toEqual([
      'delete Pod/backups-dc9',
      'delete PersistentVolumeClaim/backups-dc9-data',
      'delete Secret/backups-dc9-sealing-key',
    ]);
  });

  it('creates pods with the cluster state the step asks for', () => {
    const ops = planStep(fleet, { kind: 'CreateMember', zone: 'dc1', clusterState: 'new', ...explain }, ctx);
    const pod = ops[2]?.op === 'create-if-absent' ? JSON.stringify(ops[2].object) : '';
    expect(pod).toContain('"name":"KEYFLEET_CLUSTER_STATE","value":"new"');
    const restart = planStep(
      fleet,
      { kind: 'RecreateMember', zone: 'dc1', cause: 'pod-missing', ...explain },
      ctx,
    );
    expect(JSON.stringify(restart)).toContain('"name":"KEYFLEET_CLUSTER_STATE","value":"existing"');
  });
});
