// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy and CoreDNS as local
// processes, each started from its cached binary with its log under .state/logs/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { apiserverUrl, net, paths, ports, stateDir } from './config.ts';
import { componentKubeconfig } from './kubeconfig.ts';
import { pki } from './pki.ts';
import { sleep, startDaemon, trackedPid } from './proc.ts';
import { binPath } from './versions.ts';

// The controllers a StatefulSet/Deployment/Service/GC world needs (names as kube-controller-manager
// v1.33 lists them under --controllers). No nodeipam (the agent sets podCIDRs), no cloud controllers.
export const controllers = [
  'serviceaccount-token-controller',
  'serviceaccount-controller',
  'namespace-controller',
  'garbage-collector-controller',
  'deployment-controller',
  'replicaset-controller',
  'replicationcontroller-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
  'ttl-after-finished-controller',
  'endpoints-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'disruption-controller',
  'root-ca-certificate-publisher-controller',
  'pod-garbage-collector-controller',
  'persistentvolume-binder-controller',
  'persistentvolume-protection-controller',
  'persistentvolumeclaim-protection-controller',
  'ephemeral-volume-controller',
  'resourcequota-controller',
  'clusterrole-aggregation-controller',
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'service-cidr-controller',
];

export function startEtcd(): void {
  if (trackedPid('etcd')) return;
  mkdirSync(paths.etcdData, { recursive: true, mode: 0o700 });
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  startDaemon('etcd', [
    binPath('etcd'),
    '--name=keyfleet',
    `--data-dir=${paths.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=keyfleet=${peer}`,
    '--unsafe-no-fsync', // tests only: a crash may lose the last writes, which a test cluster can afford
    '--quota-backend-bytes=2147483648',
    '--log-level=warn',
  ]);
}

export function startApiserver(): void {
  if (trackedPid('kube-apiserver')) return;
  const serving = pki.cert('apiserver');
  const kubeletClient = pki.cert('kubeletClient');
  startDaemon('kube-apiserver', [
    binPath('kube-apiserver'),
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    `--bind-address=${net.controlPlaneIp}`,
    `--advertise-address=${net.controlPlaneIp}`,
    `--secure-port=${ports.apiserver}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=Node,RBAC',
    `--service-account-issuer=https://kubernetes.default.svc.${net.clusterDomain}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${net.serviceCidr}`,
    '--allow-privileged=true',
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    `--kubelet-certificate-authority=${pki.ca.cert}`,
    '--kubelet-preferred-address-types=InternalIP',
    // Request-header authentication published for the controller-manager's and scheduler's own
    // endpoints (they warn without it); only a certificate named front-proxy-client, which the
    // harness never issues, could use it.
    `--requestheader-client-ca-file=${pki.ca.cert}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--profiling=false',
    '--v=1',
  ]);
}

export function startControllerManager(): void {
  if (trackedPid('kube-controller-manager')) return;
  const kc = componentKubeconfig('controllerManager');
  startDaemon('kube-controller-manager', [
    binPath('kube-controller-manager'),
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    '--use-service-account-credentials=true',
    `--controllers=${controllers.join(',')}`,
    `--cluster-cidr=${net.podCidr}`,
    `--service-cluster-ip-range=${net.serviceCidr}`,
    '--allocate-node-cidrs=false',
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.controllerManager}`,
    // Faster than the defaults so stopNode shows NotReady within seconds, not a minute.
    '--node-monitor-period=2s',
    '--node-monitor-grace-period=16s',
    '--v=1',
  ]);
}

export function startScheduler(): void {
  if (trackedPid('kube-scheduler')) return;
  const kc = componentKubeconfig('scheduler');
  startDaemon('kube-scheduler', [
    binPath('kube-scheduler'),
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.scheduler}`,
    '--v=1',
  ]);
}

/** kube-proxy (nftables mode) on the host: one instance serves all seven nodes, which share it. */
export function startKubeProxy(): void {
  if (trackedPid('kube-proxy')) return;
  startDaemon('kube-proxy', [
    binPath('kube-proxy'),
    `--kubeconfig=${componentKubeconfig('proxy')}`,
    '--proxy-mode=nftables',
    '--hostname-override=kf-dc1',
    `--cluster-cidr=${net.podCidr}`,
    `--healthz-bind-address=127.0.0.1:${ports.proxyHealthz}`,
    `--metrics-bind-address=127.0.0.1:${ports.proxyMetrics}`,
    // Leave the machine's conntrack sysctls alone.
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--v=1',
  ]);
}

/** CoreDNS on the control-plane address: cluster.local from the API, everything else refused. */
export function startCoreDns(): void {
  if (trackedPid('coredns')) return;
  const corefile = join(stateDir, 'Corefile');
  writeFileSync(
    corefile,
    [
      `${net.clusterDomain}:53 in-addr.arpa:53 {`,
      `  bind ${net.controlPlaneIp}`,
      `  health 127.0.0.1:${ports.dnsHealth}`,
      `  ready 127.0.0.1:${ports.dnsReady}`,
      '  errors',
      `  kubernetes ${net.clusterDomain} in-addr.arpa {`,
      `    kubeconfig ${componentKubeconfig('coredns')} keyfleet-test`,
      '    pods insecure',
      '    ttl 5',
      '  }',
      '  cache 5',
      '}',
      '',
    ].join('\n'),
  );
  startDaemon('coredns', [binPath('coredns'), '-conf', corefile]);
}

/** GET an apiserver path with the admin certificate; resolves with the status code (0 if unreachable). */
export function apiserverStatus(path: string): Promise<number> {
  const agent = new Agent({
    ca: readFileSync(pki.ca.cert),
    cert: readFileSync(pki.cert('admin').cert),
    key: readFileSync(pki.cert('admin').key),
  });
  const url = new URL(path, apiserverUrl);
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  logFile?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  const tail = logFile ? `\n--- last lines of ${logFile}:\n${readTail(logFile, 30)}` : '';
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${tail}`);
}

export function readTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
