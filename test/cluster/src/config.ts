// Fixed layout of the test cluster: paths, address ranges, ports, zones. One cluster per machine.
import { join, resolve } from 'node:path';

export const clusterDir = resolve(import.meta.dirname, '..');
export const repoRoot = resolve(clusterDir, '../..');
export const stateDir = process.env['KEYFLEET_CLUSTER_STATE'] ?? join(clusterDir, '.state');

export const paths = {
  pki: join(stateDir, 'pki'),
  etcdData: join(stateDir, 'etcd'),
  logs: join(stateDir, 'logs'),
  pids: join(stateDir, 'pids'),
  pods: join(stateDir, 'pods'),
  volumes: join(stateDir, 'pv'),
  kubeconfig: join(stateDir, 'kubeconfig'),
  agentSocket: join(stateDir, 'agent.sock'),
  createdDirs: join(stateDir, 'created-dirs.txt'),
  imagesYaml: join(clusterDir, 'images.yaml'),
  versionsEnv: join(clusterDir, 'versions.env'),
} as const;

// Pod and Service ranges: private, unused by the machine (checked at `up`), never routed off it.
export const net = {
  podCidr: '10.244.0.0/16',
  serviceCidr: '10.96.0.0/16',
  // The control plane's own address (on a port-less bridge, kfbr0; this kernel has no dummy links): apiserver, CoreDNS and the kubelet
  // endpoints listen here, so pods reach them through their node's bridge.
  controlPlaneIp: '10.244.0.1',
  controlPlaneIface: 'kfbr0',
  kubernetesServiceIp: '10.96.0.1',
  dnsServiceIp: '10.96.0.10',
  clusterDomain: 'cluster.local',
} as const;

export const ports = {
  etcdClient: 32379,
  etcdPeer: 32380,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  proxyHealthz: 10256,
  proxyMetrics: 10249,
  kubelet: 10250,
  dnsHealth: 18080,
  dnsReady: 18181,
} as const;

export const zones = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'] as const;
export type Zone = (typeof zones)[number];

export interface NodeLayout {
  zone: string;
  index: number; // 1..7: the third octet of the node's pod range
  name: string; // Node object name, kubernetes.io/hostname label
  bridge: string; // Linux bridge of the node's pods
  gateway: string; // the bridge's address: pods' gateway, the node's InternalIP
  podCidr: string;
}

export function nodeLayout(zone: string): NodeLayout {
  const i = zones.indexOf(zone as Zone);
  if (i < 0) throw new Error(`unknown zone ${zone}: expected one of ${zones.join(', ')}`);
  const index = i + 1;
  return {
    zone,
    index,
    name: `kf-${zone}`,
    bridge: `kfbr${index}`,
    gateway: `10.244.${index}.1`,
    podCidr: `10.244.${index}.0/24`,
  };
}

export const nodes: NodeLayout[] = zones.map(nodeLayout);

export const apiserverUrl = `https://${net.controlPlaneIp}:${ports.apiserver}`;
