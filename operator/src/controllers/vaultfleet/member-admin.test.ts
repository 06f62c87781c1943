import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Label } from '../../specs/labels.ts';
import {
  type AdminStatus,
  type MemberAnswer,
  podAdminUrl,
  raftObservation,
  readStatuses,
} from './member-admin.ts';

const zoneOf = (id: string) => (id.startsWith('backups-') ? id.slice('backups-'.length) : undefined);

function status(member: string, over: Partial<AdminStatus> = {}): AdminStatus {
  return {
    member,
    zone: zoneOf(member) as string,
    role: 'follower',
    leader: 'backups-dc1',
    term: 3,
    commitIndex: 40,
    appliedIndex: 40,
    membership: { voters: ['backups-dc1', 'backups-dc2', 'backups-dc3'], learners: [] },
    progress: null,
    hsmKeyId: `k-${member}`,
    ...over,
  };
}

function pod(zone: string, ip?: string, deleting = false): V1Pod {
  return {
    metadata: {
      name: `backups-${zone}`,
      labels: { [Label.zone]: zone },
      ...(deleting ? { deletionTimestamp: new Date() } : {}),
    },
    ...(ip ? { status: { podIP: ip } } : {}),
  };
}

describe('member admin', () => {
  it('addresses a member by pod IP on the admin port, IPv6 in brackets', () => {
    expect(podAdminUrl(pod('dc1', '10.244.1.7'))).toBe('http://10.244.1.7:8081');
    expect(podAdminUrl(pod('dc1', 'fd00::7'))).toBe('http://[fd00::7]:8081');
    expect(podAdminUrl(pod('dc1'))).toBeUndefined();
  });

  it('asks running pods with an IP for their status; a failing member answers null', async () => {
    const asked: string[] = [];
    const answers = await readStatuses(
      [pod('dc1', '10.0.0.1'), pod('dc2', '10.0.0.2'), pod('dc3'), pod('dc4', '10.0.0.4', true)],
      (url) => ({
        call: async <T>() => {
          asked.push(url);
          if (url.includes('10.0.0.2')) throw new Error('ECONNREFUSED');
          return status('backups-dc1') as T;
        },
      }),
      new Uint8Array(32),
    );
    expect(asked.sort()).toEqual(['http://10.0.0.1:8081', 'http://10.0.0.2:8081']);
    expect(answers.find((a) => a.zone === 'dc2')).toMatchObject({ status: null, error: 'ECONNREFUSED' });
  });

  it('takes the group, term and match indexes from the leader with the highest term', () => {
    const answers: MemberAnswer[] = [
      { zone: 'dc1', status: status('backups-dc1', { role: 'leader', term: 2 }) },
      {
        zone: 'dc2',
        status: status('backups-dc2', {
          role: 'leader',
          term: 3,
          commitIndex: 41,
          membership: { voters: ['backups-dc1', 'backups-dc2', 'stranger-x'], learners: ['backups-dc3'] },
          progress: { 'backups-dc1': { matchIndex: 39 }, 'backups-dc3': { matchIndex: 12 } },
          pendingChange: { kind: 'promote', member: 'backups-dc3' },
        }),
      },
      { zone: 'dc3', status: status('backups-dc3', { role: 'learner', hsmKeyId: null }) },
      { zone: 'dc4', status: null },
    ];
    const o = raftObservation(answers, zoneOf);
    expect(o.leaderZone).toBe('dc2');
    expect(o.raft).toEqual({
      leader: 'dc2',
      term: 3,
      commitIndex: 41,
      voters: ['dc1', 'dc2'],
      learners: ['dc3'],
      pendingChange: { kind: 'promote', zone: 'dc3' },
    });
    expect(o.reports.get('dc1')).toEqual({ role: 'leader', hsmKeyId: 'k-backups-dc1', matchIndex: 39 });
    expect(o.reports.get('dc3')).toEqual({ role: 'learner', matchIndex: 12 });
    expect(o.reports.has('dc4')).toBe(false);
  });

  it('without a leader there is no Raft view, but the members still report their role and key', () => {
    const o = raftObservation(
      [{ zone: 'dc1', status: status('backups-dc1', { role: 'candidate' }) }],
      zoneOf,
    );
    expect(o.raft).toBeNull();
    expect(o.reports.get('dc1')).toEqual({ role: 'candidate', hsmKeyId: 'k-backups-dc1' });
  });
});
