import { describe, expect, it } from 'vitest';
import { ConfigError, peerUrl, readConfig } from './config.ts';

const env = {
  KEYFLEET_FLEET_ID: 'vaults/backups',
  KEYFLEET_MEMBER_ID: 'backups-dc3',
  KEYFLEET_ZONE: 'dc3',
  KEYFLEET_CLUSTER_STATE: 'new',
  KEYFLEET_INITIAL_MEMBERS: 'backups-dc1,backups-dc2,backups-dc3',
  KEYFLEET_PEER_URL_TEMPLATE: 'http://{member}.backups-peers.vaults.svc.cluster.local:7000',
  KEYFLEET_DATA_DIR: '/var/lib/keyfleet',
  KEYFLEET_SEALING_KEY_FILE: '/etc/keyfleet/sealing/sealing-key',
  KEYFLEET_MANUFACTURER_CA_FILE: '/etc/keyfleet/trust/manufacturer-ca.ed25519.pub',
  KEYFLEET_OPERATOR_ADMIN_KEY_FILE: '/etc/keyfleet/trust/operator-admin.ed25519.pub',
  KEYFLEET_GUESS_LIMIT: '10',
};

function problems(overrides: Record<string, string | undefined>): readonly string[] {
  try {
    readConfig({ ...env, ...overrides });
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
}

describe('vault configuration from the environment', () => {
  it('reads the operator contract with its defaults', () => {
    const c = readConfig(env);
    expect(c.initialMembers).toEqual(['backups-dc1', 'backups-dc2', 'backups-dc3']);
    expect(c.ports).toEqual({ client: 8080, peer: 7000, admin: 8081, metrics: 9090 });
    expect(c.guessLimit).toBe(10);
    expect(peerUrl(c, 'backups-dc1')).toBe('http://backups-dc1.backups-peers.vaults.svc.cluster.local:7000');
    const local = readConfig({ ...env, KEYFLEET_PEER_URLS: 'backups-dc1=http://127.0.10.1:7000/' });
    expect(peerUrl(local, 'backups-dc1')).toBe('http://127.0.10.1:7000');
    expect(peerUrl(local, 'backups-dc2')).toBe(
      'http://backups-dc2.backups-peers.vaults.svc.cluster.local:7000',
    );
  });

  it('names every problem at once', () => {
    const found = problems({
      KEYFLEET_MEMBER_ID: 'Backups_DC3',
      KEYFLEET_GUESS_LIMIT: '0',
      KEYFLEET_PEER_URL_TEMPLATE: 'http://peer:7000',
      KEYFLEET_SEALING_KEY_FILE: undefined,
      KEYFLEET_PEER_URLS: 'backups-dc1',
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringContaining('KEYFLEET_MEMBER_ID'),
        expect.stringContaining('KEYFLEET_GUESS_LIMIT'),
        expect.stringContaining('must contain {member}'),
        'KEYFLEET_SEALING_KEY_FILE is required',
        expect.stringContaining('KEYFLEET_PEER_URLS has a bad entry'),
      ]),
    );
  });

  it('refuses to bootstrap a fleet it is not a member of, and clashing ports', () => {
    expect(problems({ KEYFLEET_INITIAL_MEMBERS: 'backups-dc1,backups-dc2' })).toEqual([
      expect.stringContaining('does not include this member'),
    ]);
    expect(problems({ KEYFLEET_ADMIN_PORT: '8080' })).toEqual([expect.stringContaining('ports must differ')]);
    expect(problems({ KEYFLEET_CLUSTER_STATE: 'fresh' })).toEqual([
      expect.stringContaining('"new" or "existing"'),
    ]);
  });

  it('accepts OPAQUE worker threads 0..16 or auto, and refuses anything else at start', () => {
    for (const ok of ['0', '1', '16', 'auto']) expect(problems({ KEYFLEET_OPAQUE_THREADS: ok })).toEqual([]);
    for (const bad of ['17', '-1', 'two', '', ' 1']) {
      expect(problems({ KEYFLEET_OPAQUE_THREADS: bad })).toEqual([
        expect.stringContaining('KEYFLEET_OPAQUE_THREADS must be'),
      ]);
    }
  });
});
