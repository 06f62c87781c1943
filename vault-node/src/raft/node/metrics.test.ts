import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DROP_REASONS } from '../transport/http-transport.ts';
import { RaftMetrics } from './metrics.ts';

describe('RaftMetrics', () => {
  it('follows the Prometheus naming rules under the keyfleet_vault_raft_ prefix', async () => {
    const registry = new Registry();
    const m = new RaftMetrics(registry);
    m.dropped('bad-signature', 3);
    const all = await registry.getMetricsAsJSON();
    expect(all.map((x) => x.name).sort()).toEqual(
      [
        'append_duration_seconds',
        'applied_index',
        'commit_index',
        'fsync_duration_seconds',
        'is_leader',
        'leader_changes_total',
        'messages_dropped_total',
        'proposal_commit_duration_seconds',
        'proposals_committed_total',
        'proposals_failed_total',
        'snapshots_installed_total',
        'term',
        'torn_writes_recovered_total',
      ].map((n) => `keyfleet_vault_raft_${n}`),
    );
    for (const x of all) {
      if (String(x.type) === 'counter') expect(x.name).toMatch(/_total$/);
      if (String(x.type) === 'histogram') expect(x.name).toMatch(/_seconds$/);
      expect(x.help.length).toBeGreaterThan(10);
    }
    // Every drop reason is exported from the start (at 0), so alerts see a series before the first drop.
    const dropped = all.find((x) => x.name === 'keyfleet_vault_raft_messages_dropped_total')!;
    expect(dropped.values.map((v) => v.labels.reason).sort()).toEqual([...DROP_REASONS].sort());
    expect(dropped.values.find((v) => v.labels.reason === 'bad-signature')!.value).toBe(3);
  });
});
