import { describe, expect, it } from 'vitest';
import { membersSelector } from './labels.ts';
import { memberNetworkPolicy } from './network-policy.ts';
import { DEFAULT_SPEC_OPTIONS } from './options.ts';
import { testFleet } from './test-fleet.ts';
import { Port } from './vault-contract.ts';

const fleet = testFleet();

function portsOf(
  rules: Array<{ ports?: Array<{ port?: number | string }> }>,
): Array<number | string | undefined> {
  return rules.flatMap((r) => (r.ports ?? []).map((p) => p.port));
}

describe('memberNetworkPolicy', () => {
  const policy = memberNetworkPolicy(fleet);
  const wire = JSON.parse(JSON.stringify(policy));

  it('applies to the members, both directions', () => {
    expect(policy.spec.podSelector?.matchLabels).toEqual(membersSelector(fleet));
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('serialises ingress peers as `from`, the field the API server reads', () => {
    expect(wire.spec.ingress[0].from).toBeDefined();
    expect(wire.spec.ingress[0]._from).toBeUndefined();
  });

  it('admits the peer port from members only', () => {
    const rule = policy.spec.ingress.find((r) => r.ports?.[0]?.port === Port.peer);
    expect(rule?.from).toEqual([{ podSelector: { matchLabels: membersSelector(fleet) } }]);
  });

  it('admits the client port from the namespace by default, or from the configured peers', () => {
    const byDefault = policy.spec.ingress.find((r) => r.ports?.[0]?.port === Port.client);
    expect(byDefault?.from).toEqual([{ podSelector: { matchLabels: {} } }]);
    const narrowed = memberNetworkPolicy(fleet, {
      ...DEFAULT_SPEC_OPTIONS,
      clientPeers: [{ namespaceLabels: { team: 'edge' }, podLabels: { app: 'gateway' } }],
    }).spec.ingress.find((r) => r.ports?.[0]?.port === Port.client);
    expect(narrowed?.from).toEqual([
      {
        podSelector: { matchLabels: { app: 'gateway' } },
        namespaceSelector: { matchLabels: { team: 'edge' } },
      },
    ]);
  });

  it('admits the admin port from the operator only and metrics from the monitoring namespace', () => {
    const admin = policy.spec.ingress.find((r) => r.ports?.[0]?.port === Port.admin);
    expect(admin?.from?.[0]?.namespaceSelector?.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'keyfleet-system',
    });
    const metrics = policy.spec.ingress.find((r) => r.ports?.[0]?.port === Port.metrics);
    expect(metrics?.from?.[0]?.namespaceSelector?.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'monitoring',
    });
    const noMonitoring = memberNetworkPolicy(fleet, {
      ...DEFAULT_SPEC_OPTIONS,
      monitoringNamespace: undefined,
    });
    expect(portsOf(noMonitoring.spec.ingress)).not.toContain(Port.metrics);
  });

  it('opens exactly the peer, client, admin and metrics ports', () => {
    expect(portsOf(policy.spec.ingress).sort()).toEqual(
      [Port.peer, Port.client, Port.admin, Port.metrics].sort(),
    );
  });

  it('lets members reach only each other and DNS', () => {
    const egress = policy.spec.egress ?? [];
    expect(egress).toHaveLength(2);
    expect(egress[0]).toEqual({
      to: [{ podSelector: { matchLabels: membersSelector(fleet) } }],
      ports: [{ protocol: 'TCP', port: Port.peer }],
    });
    expect(egress[1]?.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    expect(egress[1]?.to?.[0]?.podSelector?.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
  });
});
