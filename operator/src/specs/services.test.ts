import { describe, expect, it } from 'vitest';
import { memberPod } from './member-pod.ts';
import { clientService, peerService } from './services.ts';
import { testFleet } from './test-fleet.ts';

const fleet = testFleet();
const podLabels = memberPod(fleet, { zone: 'dc1', clusterState: 'new' }).metadata?.labels ?? {};

function selects(selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => podLabels[k] === v);
}

describe('services', () => {
  it('peer Service is headless and publishes members before they are ready', () => {
    const svc = peerService(fleet);
    expect(svc.metadata?.name).toBe('backups-peers');
    expect(svc.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(svc.spec?.ports).toEqual([{ name: 'peer', port: 7000, targetPort: 'peer', protocol: 'TCP' }]);
    expect(selects(svc.spec?.selector)).toBe(true);
  });

  it('client Service is a ClusterIP in front of ready members only', () => {
    const svc = clientService(fleet);
    expect(svc.metadata?.name).toBe('backups-client');
    expect(svc.spec).toMatchObject({ type: 'ClusterIP', publishNotReadyAddresses: false });
    expect(svc.spec?.ports).toEqual([{ name: 'client', port: 8080, targetPort: 'client', protocol: 'TCP' }]);
    expect(selects(svc.spec?.selector)).toBe(true);
  });

  it('select every member but nothing of another fleet', () => {
    const other =
      memberPod(testFleet({}, 'other'), { zone: 'dc1', clusterState: 'new' }).metadata?.labels ?? {};
    const selector = clientService(fleet).spec?.selector ?? {};
    expect(Object.entries(selector).every(([k, v]) => other[k] === v)).toBe(false);
  });
});
