import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Label } from '../../specs/labels.ts';
import { memberPod } from '../../specs/member-pod.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { Env } from '../../specs/vault-contract.ts';
import {
  claimMemberId,
  freshMemberId,
  MEMBER_ID_ANNOTATION,
  memberZones,
  podMemberId,
  withClaimMemberId,
  withPodMemberId,
} from './member-identity.ts';

const claim = (zone: string, id?: string): V1PersistentVolumeClaim => ({
  metadata: {
    name: `backups-${zone}-data`,
    labels: { [Label.zone]: zone },
    ...(id ? { annotations: { [MEMBER_ID_ANNOTATION]: id } } : {}),
  },
});

describe('member identity', () => {
  it('a fresh id is the zone name with a random suffix, a DNS label', () => {
    let n = 0;
    const ids = new Set(
      Array.from({ length: 3 }, () =>
        freshMemberId('backups', 'dc3', (len) => new Uint8Array(len).fill(++n)),
      ),
    );
    expect([...ids]).toEqual(['backups-dc3-0101', 'backups-dc3-0202', 'backups-dc3-0303']);
    const long = freshMemberId('x'.repeat(70), 'dc3', (len) => new Uint8Array(len));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
  });

  it('a claim without a recorded id holds the bootstrap member named after its zone', () => {
    expect(claimMemberId(claim('dc1'), 'backups', 'dc1')).toBe('backups-dc1');
    expect(claimMemberId(withClaimMemberId(claim('dc1'), 'backups-dc1-beef'), 'backups', 'dc1')).toBe(
      'backups-dc1-beef',
    );
  });

  it('the pod runs as the id: member id variable and DNS hostname; everything else unchanged', () => {
    const pod = memberPod(testFleet(), { zone: 'dc3', clusterState: 'existing' });
    const renamed = withPodMemberId(pod, 'backups-dc3-beef');
    expect(podMemberId(pod)).toBe('backups-dc3');
    expect(podMemberId(renamed)).toBe('backups-dc3-beef');
    expect(renamed.spec?.hostname).toBe('backups-dc3-beef');
    expect(renamed.metadata?.name).toBe('backups-dc3');
    const otherEnv = (p: V1Pod) => p.spec?.containers?.[0]?.env?.filter((e) => e.name !== Env.memberId);
    expect(otherEnv(renamed)).toEqual(otherEnv(pod));
  });

  it('maps every id the fleet objects name back to its zone', () => {
    const pod = withPodMemberId(
      memberPod(testFleet(), { zone: 'dc2', clusterState: 'existing' }),
      'backups-dc2-aaaa',
    );
    const map = memberZones('backups', ['dc1', 'dc2'], [pod], [claim('dc3', 'backups-dc3-bbbb')]);
    expect(Object.fromEntries(map)).toEqual({
      'backups-dc1': 'dc1',
      'backups-dc2': 'dc2',
      'backups-dc2-aaaa': 'dc2',
      'backups-dc3-bbbb': 'dc3',
    });
  });
});
