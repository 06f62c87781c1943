import { describe, expect, it } from 'vitest';
import { createOperatorMetrics, forgetFleet } from './metrics.ts';

// STYLE.md: metric names are checked against the Prometheus conventions.
const allowedLabels = new Set([
  'controller',
  'result',
  'resource',
  'reason',
  'lease',
  'type',
  'namespace',
  'vaultfleet',
  'zone',
]);

describe('operator metrics', () => {
  it('follow the naming conventions', async () => {
    const { registry } = createOperatorMetrics();
    const metrics = await registry.getMetricsAsJSON();
    expect(metrics.length).toBeGreaterThan(10);
    for (const m of metrics) {
      expect(m.name).toMatch(/^keyfleet_[a-z_]+$/);
      if (String(m.type) === 'counter') expect(m.name).toMatch(/_total$/);
      else expect(m.name).not.toMatch(/_total$/);
      if (String(m.type) === 'histogram') expect(m.name).toMatch(/_seconds$/);
      expect(m.help.length).toBeGreaterThan(10);
    }
    const m = createOperatorMetrics();
    m.reconcileTotal.inc({ controller: 'c', result: 'success' });
    m.reconcileDuration.observe({ controller: 'c' }, 0.1);
    const text = await m.registry.metrics();
    for (const match of text.matchAll(/\{([^}]*)\}/g)) {
      for (const pair of (match[1] ?? '').split(',')) {
        const label = pair.split('=')[0] ?? '';
        if (label !== 'le') expect(allowedLabels).toContain(label);
      }
    }
    expect(text).toContain('keyfleet_reconcile_total{controller="c",result="success"} 1');
  });

  it("forgets a deleted fleet's series", async () => {
    const m = createOperatorMetrics();
    m.fleetMembersReady.set({ namespace: 'vaults', vaultfleet: 'a' }, 7);
    m.fleetMembersReady.set({ namespace: 'vaults', vaultfleet: 'b' }, 5);
    m.fleetLeaderChanges.inc({ namespace: 'vaults', vaultfleet: 'a' });
    m.fleetMemberReady.set({ namespace: 'vaults', vaultfleet: 'a', zone: 'dc1' }, 1);
    m.fleetMemberReady.set({ namespace: 'vaults', vaultfleet: 'b', zone: 'dc1' }, 1);
    forgetFleet(m, 'vaults', 'a', ['dc1', 'dc2']);
    const text = await m.registry.metrics();
    expect(text).not.toContain('vaultfleet="a"');
    expect(text).toContain('keyfleet_vaultfleet_members_ready{namespace="vaults",vaultfleet="b"} 5');
    expect(text).toContain(
      'keyfleet_vaultfleet_member_ready{namespace="vaults",vaultfleet="b",zone="dc1"} 1',
    );
  });

  it('keeps registries separate so tests do not share counts', async () => {
    const a = createOperatorMetrics();
    const b = createOperatorMetrics();
    a.workqueueAdds.inc({ controller: 'x' });
    expect(await b.registry.metrics()).not.toContain('keyfleet_workqueue_adds_total{controller="x"}');
  });
});
