// Bringing the whole test cluster up and down, and what is running: the entry points of cli.ts and
// of the vitest global setup.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { installAddons } from './addons.ts';
import { clusterDir, net, nodes, paths, ports, stateDir } from './config.ts';
import { faults } from './control-client.ts';
import {
  apiserverStatus,
  readTail,
  startApiserver,
  startControllerManager,
  startCoreDns,
  startEtcd,
  startKubeProxy,
  startScheduler,
  waitFor,
} from './controlplane.ts';
import { Kube } from './kube.ts';
import { writeKubeconfigs } from './kubeconfig.ts';
import { hostNetworkDown, hostNetworkUp, listPodNetns, netnsPids } from './network.ts';
import { ensurePki } from './pki.ts';
import { isAlive, logPath, startDaemon, stopDaemon, trackedNames, trackedPid } from './proc.ts';
import { tryRun } from './sh.ts';
import { binPath, type Component, missingBinaries } from './versions.ts';

const needed: Component[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'coredns',
  'kubectl',
];

export interface UpResult {
  kubeconfig: string;
  seconds: number;
  phases: Record<string, number>;
}

function checkPrerequisites(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the cluster tier needs root (network namespaces, bridges, nftables, mounts)');
  for (const tool of ['ip', 'nft', 'openssl', 'unshare', 'mount']) {
    if (!tryRun('sh', ['-c', `command -v ${tool}`]))
      throw new Error(`${tool} is missing: run test/cluster/install-deps.sh`);
  }
  const missing = missingBinaries(needed);
  if (missing.length) {
    throw new Error(
      `binaries not built: ${missing.join(', ')}; run test/cluster/build.sh (cold build, cached in ${binPath('etcd').split('/etcd-')[0]})`,
    );
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** The address and names are machine-wide: a cluster of another checkout must be downed first. */
function checkNoForeignCluster(): void {
  if (trackedPid('kube-apiserver')) return;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmd.includes('kube-apiserver') && cmd.includes(`--bind-address=${net.controlPlaneIp}`)) {
      const owner = /--client-ca-file=(\S+)\/pki\/ca\.crt/.exec(cmd)?.[1] ?? 'another state directory';
      throw new Error(
        `a keyfleet test cluster of ${owner} is running (pid ${pid}); run its \`cluster down\` first`,
      );
    }
  }
}

export async function up(progress: (m: string) => void = () => {}): Promise<UpResult> {
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  let tp = t0;
  const phase = (name: string) => {
    const now = Date.now();
    phases[name] = (now - tp) / 1000;
    tp = now;
    progress(`${name} (${phases[name]!.toFixed(1)}s)`);
  };
  checkPrerequisites();
  checkNoForeignCluster();
  mkdirSync(stateDir, { recursive: true });
  ensurePki();
  writeKubeconfigs();
  phase('pki');
  hostNetworkUp();
  phase('host network');
  startEtcd();
  await waitFor('etcd', () => httpOk(`http://127.0.0.1:${ports.etcdClient}/health`), 30_000, logPath('etcd'));
  phase('etcd');
  startApiserver();
  await waitFor(
    'kube-apiserver /readyz',
    async () => (await apiserverStatus('/readyz')) === 200,
    90_000,
    logPath('kube-apiserver'),
  );
  phase('kube-apiserver');
  startControllerManager();
  startScheduler();
  const kube = new Kube();
  try {
    await installAddons(kube);
    phase('controller-manager, scheduler, addons');
    if (!trackedPid('node-agent')) {
      startDaemon('node-agent', [process.execPath, join(clusterDir, 'src/agent/main.ts')], {
        cwd: clusterDir,
      });
    }
    await waitFor(
      'seven Ready nodes',
      async () => {
        const list = await kube
          .list<{ status?: { conditions?: { type: string; status: string }[] } }>('/api/v1/nodes')
          .catch(() => undefined);
        const ready = list?.items.filter((n) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready?.length === nodes.length && existsSync(paths.agentSocket);
      },
      60_000,
      logPath('node-agent'),
    );
    phase('node agent, 7 nodes Ready');
    startKubeProxy();
    startCoreDns();
    await waitFor(
      'kube-proxy healthz',
      () => httpOk(`http://127.0.0.1:${ports.proxyHealthz}/healthz`),
      60_000,
      logPath('kube-proxy'),
    );
    await waitFor(
      'CoreDNS ready',
      () => httpOk(`http://127.0.0.1:${ports.dnsReady}/ready`),
      60_000,
      logPath('coredns'),
    );
    await waitFor(
      'default service account',
      async () => Boolean(await kube.getOrUndefined('/api/v1/namespaces/default/serviceaccounts/default')),
      60_000,
      logPath('kube-controller-manager'),
    );
    await waitFor(
      'kube-root-ca.crt',
      async () =>
        Boolean(await kube.getOrUndefined('/api/v1/namespaces/default/configmaps/kube-root-ca.crt')),
      60_000,
      logPath('kube-controller-manager'),
    );
    phase('kube-proxy, CoreDNS, service accounts');
  } finally {
    kube.close();
  }
  return { kubeconfig: paths.kubeconfig, seconds: (Date.now() - t0) / 1000, phases };
}

/** Stops everything `up` started and removes every namespace, route, rule and mount point it made. */
export async function down(
  opts: { purge?: boolean } = {},
  progress: (m: string) => void = () => {},
): Promise<void> {
  await stopDaemon('node-agent', 20_000);
  progress('node agent stopped');
  for (const name of [
    'coredns',
    'kube-proxy',
    'kube-scheduler',
    'kube-controller-manager',
    'kube-apiserver',
    'etcd',
  ]) {
    await stopDaemon(name, 10_000);
  }
  for (const name of trackedNames()) await stopDaemon(name, 5_000);
  progress('control plane stopped');
  if (existsSync(binPath('kube-proxy'))) {
    try {
      execFileSync(binPath('kube-proxy'), ['--cleanup', '--proxy-mode=nftables'], { stdio: 'ignore' });
    } catch {
      // nothing to clean
    }
  }
  // Anything still inside a pod namespace (a crashed agent's children) is killed.
  for (const ns of listPodNetns()) {
    for (const pid of netnsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    tryRun('ip', ['netns', 'del', ns]);
    rmSync(join('/etc/netns', ns), { recursive: true, force: true });
  }
  for (const link of listLinks().filter((l) => l.startsWith('kfv'))) tryRun('ip', ['link', 'del', link]);
  hostNetworkDown();
  tryRun('rmdir', ['/etc/netns']); // only if empty: `ip netns exec` reads per-namespace files there
  removeCreatedMountPoints();
  progress('network, namespaces and mount points removed');
  rmSync(paths.agentSocket, { force: true });
  if (opts.purge) rmSync(stateDir, { recursive: true, force: true });
  else
    for (const d of [paths.etcdData, paths.pods, paths.volumes, paths.pids, paths.pki])
      rmSync(d, { recursive: true, force: true });
}

function listLinks(): string[] {
  return readdirSync('/sys/class/net');
}

/** rmdir (only if empty) the mount points the agent had to create on the host, deepest first. */
function removeCreatedMountPoints(): void {
  if (!existsSync(paths.createdDirs)) return;
  const targets = [...new Set(readFileSync(paths.createdDirs, 'utf8').split('\n').filter(Boolean))];
  const all = new Set<string>();
  for (const t of targets)
    for (let p = t; p !== '/' && p.length > 1; p = p.slice(0, p.lastIndexOf('/')) || '/') all.add(p);
  for (const p of [...all].sort((a, b) => b.length - a.length)) {
    tryRun('rmdir', [p]) ||
      tryRun('sh', [
        '-c',
        `[ -f '${p.replaceAll("'", '')}' ] && [ ! -s '${p.replaceAll("'", '')}' ] && rm -f '${p.replaceAll("'", '')}'`,
      ]);
  }
  rmSync(paths.createdDirs, { force: true });
}

export interface Status {
  stateDir: string;
  kubeconfig: string;
  daemons: { name: string; pid?: number; alive: boolean; log: string }[];
  agent?: Awaited<ReturnType<typeof faults.status>>;
}

export async function status(): Promise<Status> {
  const names = [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'node-agent',
    'kube-proxy',
    'coredns',
  ];
  const daemons = names.map((name) => {
    const pid = trackedPid(name);
    return { name, ...(pid ? { pid } : {}), alive: pid !== undefined && isAlive(pid), log: logPath(name) };
  });
  const agent = existsSync(paths.agentSocket) ? await faults.status().catch(() => undefined) : undefined;
  return { stateDir, kubeconfig: paths.kubeconfig, daemons, ...(agent ? { agent } : {}) };
}

export { readTail };
