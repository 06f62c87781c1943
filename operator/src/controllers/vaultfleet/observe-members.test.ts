import type { V1Node, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { memberConfigHash } from '../../specs/config-hash.ts';
import { memberPod } from '../../specs/member-pod.ts';
import { memberClaim } from '../../specs/member-pvc.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { claimState, type ObserveInput, observeMembers, podState } from './observe-members.ts';
import type { RaftView } from './observed.ts';
import { nextStep } from './rollout.ts';

const fleet = testFleet({ zones: ['dc1', 'dc2', 'dc3'] });
const now = new Date('2026-11-23T12:00:00Z');

function runningPod(zone: string, extra: { ready?: boolean; node?: string } = {}): V1Pod {
  const pod = memberPod(fleet, { zone, clusterState: 'existing' });
  pod.spec!.nodeName = extra.node ?? `node-${zone}`;
  pod.status = {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }],
  };
  return pod;
}

function boundClaim(zone: string): V1PersistentVolumeClaim {
  return { ...memberClaim(fleet, zone), status: { phase: 'Bound' } };
}

// Times as a plain-JSON client delivers them: strings.
function node(name: string, ready: boolean, since = '2026-11-23T11:55:00Z'): V1Node {
  const lastTransitionTime = since as unknown as Date;
  return {
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown', lastTransitionTime }] },
  };
}

const raft: RaftView = {
  leader: 'dc1',
  term: 3,
  commitIndex: 1000,
  voters: ['dc1', 'dc2', 'dc3'],
  learners: [],
  pendingChange: null,
};

function input(overrides: Partial<ObserveInput> = {}): ObserveInput {
  return {
    specZones: fleet.spec.zones,
    pods: ['dc1', 'dc2', 'dc3'].map((z) => runningPod(z)),
    claims: ['dc1', 'dc2', 'dc3'].map(boundClaim),
    nodes: ['dc1', 'dc2', 'dc3'].map((z) => node(`node-${z}`, true)),
    raft,
    reports: new Map([
      ['dc1', { role: 'leader' as const, matchIndex: 1000, hsmKeyId: 'aa' }],
      ['dc2', { role: 'follower' as const, matchIndex: 990 }],
      ['dc3', { role: 'follower' as const, matchIndex: 500 }],
    ]),
    now,
    ...overrides,
  };
}

describe('observeMembers', () => {
  it('reads pods, claims, nodes and Raft reports into members', () => {
    const [dc1, dc2, dc3] = observeMembers(input());
    expect(dc1).toEqual({
      zone: 'dc1',
      pod: 'running',
      ready: true,
      claim: 'bound',
      caughtUp: true,
      nodeReady: true,
      configHash: memberConfigHash(fleet.spec),
      node: 'node-dc1',
      role: 'leader',
      matchIndex: 1000,
      hsmKeyId: 'aa',
    });
    expect(dc2?.caughtUp).toBe(true); // 10 behind, within the lag
    expect(dc3?.caughtUp).toBe(false); // 500 behind
  });

  it('measures how long a node has not been Ready, and treats a deleted node as gone for good', () => {
    const members = observeMembers(
      input({ nodes: [node('node-dc1', true), node('node-dc2', false, '2026-11-23T11:50:00Z')] }),
    );
    expect(members[1]).toMatchObject({ nodeReady: false, nodeNotReadySeconds: 600 });
    expect(members[2]?.nodeReady).toBe(false);
    expect(members[2]?.nodeNotReadySeconds).toBeGreaterThan(1e9);
  });

  it('lists zones that have objects or Raft membership but left the spec', () => {
    const extra = {
      ...runningPod('dc9'),
      metadata: { ...runningPod('dc9').metadata, labels: { 'keyfleet.dev/zone': 'dc9' } },
    };
    const members = observeMembers(
      input({ pods: [...input().pods, extra], raft: { ...raft, learners: ['dc8'] } }),
    );
    expect(members.map((m) => m.zone)).toEqual(['dc1', 'dc2', 'dc3', 'dc8', 'dc9']);
    expect(members[3]).toMatchObject({ pod: 'missing', claim: 'missing' });
  });

  it('without a leader nobody is caught up', () => {
    expect(observeMembers(input({ raft: null })).some((m) => m.caughtUp)).toBe(false);
  });

  it('feeds the rollout: a deleted pod is recreated', () => {
    const obs = observeMembers(input({ pods: [runningPod('dc1'), runningPod('dc2')] }));
    const step = nextStep({
      spec: fleet.spec,
      desiredConfigHash: memberConfigHash(fleet.spec),
      bootstrapped: true,
      members: obs,
      raft,
    });
    expect(step).toMatchObject({ kind: 'RecreateMember', zone: 'dc3', cause: 'pod-missing' });
  });
});

describe('from a spec change to a rolling update', () => {
  it('a new image makes every running member out of date; the one lagging behind goes first', () => {
    const upgraded = { ...fleet.spec, image: 'ghcr.io/keyfleet/vault-node:0.2.0' };
    const step = nextStep({
      spec: upgraded,
      desiredConfigHash: memberConfigHash(upgraded),
      bootstrapped: true,
      members: observeMembers(input()),
      raft,
    });
    // dc3 is 500 entries behind, so not healthy: updating it first costs no availability.
    expect(step).toMatchObject({ kind: 'UpdateMember', zone: 'dc3' });
  });
});

describe('states', () => {
  it.each<[string, V1Pod | undefined, string]>([
    ['no pod', undefined, 'missing'],
    [
      'deleting',
      {
        metadata: { deletionTimestamp: '2026-11-23T11:00:00Z' as unknown as Date },
        status: { phase: 'Running' },
      },
      'terminating',
    ],
    ['running', { status: { phase: 'Running' } }, 'running'],
    ['evicted', { status: { phase: 'Failed' } }, 'failed'],
    ['scheduling', { status: { phase: 'Pending' } }, 'pending'],
  ])('pod %s -> %s', (_, pod, state) => {
    expect(podState(pod)).toBe(state);
  });

  it.each<[string, V1PersistentVolumeClaim | undefined, string]>([
    ['no claim', undefined, 'missing'],
    ['bound', { status: { phase: 'Bound' } }, 'bound'],
    ['waiting for a consumer', { status: { phase: 'Pending' } }, 'pending'],
    ['volume lost', { status: { phase: 'Lost' } }, 'lost'],
    ['being deleted', { metadata: { deletionTimestamp: new Date() }, status: { phase: 'Bound' } }, 'lost'],
  ])('claim %s -> %s', (_, claim, state) => {
    expect(claimState(claim)).toBe(state);
  });
});
