// Node objects and heartbeats for the seven zone nodes (what a kubelet registers and renews).
import { readFileSync } from 'node:fs';
import type { NodeLayout } from '../config.ts';
import { ports } from '../config.ts';
import { ApiError, type Kube } from '../kube.ts';

export const capacity = { cpu: '16', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' };

export function nodeObject(n: NodeLayout): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': n.zone,
        'topology.kubernetes.io/region': 'keyfleet-test',
        'keyfleet.test/agent': 'true',
      },
    },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
  };
}

export function nodeStatus(
  n: NodeLayout,
  ready: boolean,
  kubeletVersion: string,
  heartbeat: string,
  since: string,
): Record<string, unknown> {
  const c = (type: string, ok: boolean, reason: string, message: string) => ({
    type,
    status: ok ? 'True' : 'False',
    reason,
    message,
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: since,
  });
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    kernel = 'unknown';
  }
  return {
    capacity,
    allocatable: capacity,
    conditions: [
      c('MemoryPressure', false, 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', false, 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      ready
        ? c('Ready', true, 'KubeletReady', 'keyfleet node agent is posting ready status')
        : c('Ready', false, 'KubeletNotReady', 'node stopped by the test harness'),
    ],
    addresses: [
      { type: 'InternalIP', address: n.gateway },
      { type: 'Hostname', address: n.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: ports.kubelet } },
    nodeInfo: {
      machineID: `keyfleet-${n.zone}`,
      systemUUID: `keyfleet-${n.zone}`,
      bootID: `keyfleet-${n.zone}-${since}`,
      kernelVersion: kernel,
      osImage: 'keyfleet node agent (pods as local processes)',
      containerRuntimeVersion: 'keyfleet-agent://0.1.0',
      kubeletVersion,
      kubeProxyVersion: kubeletVersion,
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

const microTime = () => new Date().toISOString().replace('Z', '000Z');

export async function registerNode(kube: Kube, n: NodeLayout, kubeletVersion: string): Promise<void> {
  const existing = await kube.getOrUndefined(`/api/v1/nodes/${n.name}`);
  if (!existing) await kube.create('/api/v1/nodes', nodeObject(n));
  else await kube.mergePatch(`/api/v1/nodes/${n.name}`, nodeObject(n));
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await kube.mergePatch(`/api/v1/nodes/${n.name}/status`, {
    status: nodeStatus(n, true, kubeletVersion, t, t),
  });
}

export async function renewLease(kube: Kube, n: NodeLayout, nodeUid: string | undefined): Promise<void> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n.name}`;
  try {
    await kube.mergePatch(path, { spec: { renewTime: microTime(), holderIdentity: n.name } });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    await kube.create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: n.name,
        namespace: 'kube-node-lease',
        ...(nodeUid
          ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name, uid: nodeUid }] }
          : {}),
      },
      spec: { holderIdentity: n.name, leaseDurationSeconds: 40, renewTime: microTime() },
    });
  }
}
