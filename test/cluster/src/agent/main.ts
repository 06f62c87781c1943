// The node agent: plays the kubelet of all seven zone nodes in one process. Registers the Nodes,
// heartbeats (Lease + Ready), runs the Pods bound to them as local processes (runtime.ts),
// provisions local PersistentVolumes, serves container logs on each node's kubelet port, and takes
// fault-injection and exec requests from the harness on a unix socket (control.ts).
import { existsSync, mkdirSync } from 'node:fs';
import { nodes, paths } from '../config.ts';
import { informer, Kube } from '../kube.ts';
import { listPodNetns, netnsPids } from '../network.ts';
import { pki } from '../pki.ts';
import { componentVersion } from '../versions.ts';
import { startControlServer } from './control.ts';
import { Faults } from './faults.ts';
import { loadImageMap } from './images.ts';
import { startKubeletServers } from './kubelet-server.ts';
import { podLookups } from './lookups.ts';
import { nodeStatus, registerNode, renewLease } from './nodes.ts';
import { provisionClaim, reclaimVolume } from './provisioner.ts';
import { PodRunner, type RuntimeDeps } from './runtime.ts';
import type { Pod } from './types.ts';

const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);

export class NodeAgent {
  readonly kube = new Kube(pki.cert('agent'));
  readonly runners = new Map<string, PodRunner>();
  readonly stoppedNodes = new Set<string>();
  readonly faults = new Faults();
  private readonly restartCounts = new Map<string, Record<string, number>>();
  private readonly nextIp = new Map<string, number>();
  private readonly pods = new Map<string, Pod>();
  private readonly nodeUids = new Map<string, string>();
  private readonly abort = new AbortController();
  private readonly kubeletVersion = componentVersion('kube-apiserver');
  private readonly deps: RuntimeDeps;

  constructor() {
    this.deps = {
      images: loadImageMap(),
      lookupsFor: (pod) =>
        podLookups(this.kube, pod.metadata.namespace ?? 'default', pod.metadata.name, pod.metadata.uid!),
      writeStatus: async (pod, status) => {
        try {
          await this.kube.mergePatch(
            `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
            {
              metadata: { uid: pod.metadata.uid },
              status,
            },
          );
        } catch (e) {
          if (!/\b(404|409)\b/.test((e as Error).message)) throw e;
        }
      },
      finalDelete: async (pod) => {
        await this.kube.delete(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        });
      },
      log,
    };
  }

  async start(): Promise<void> {
    mkdirSync(paths.pods, { recursive: true });
    this.cleanLeftovers();
    for (const n of nodes) {
      await registerNode(this.kube, n, this.kubeletVersion);
      const obj = await this.kube.get(`/api/v1/nodes/${n.name}`);
      if (obj.metadata.uid) this.nodeUids.set(n.name, obj.metadata.uid);
      await renewLease(this.kube, n, obj.metadata.uid);
    }
    log(`registered ${nodes.map((n) => n.name).join(', ')}`);
    this.faults.apply();
    this.heartbeat();
    const signal = this.abort.signal;
    void informer(
      this.kube,
      '/api/v1/pods',
      (e) => this.onPod(e.type, e.object as Pod),
      signal,
      (items) => this.resync(items as Pod[]),
    );
    void informer(
      this.kube,
      '/api/v1/persistentvolumeclaims',
      (e) => {
        if (e.type !== 'DELETED')
          void provisionClaim(this.kube, e.object as never, log).catch((x: Error) =>
            log(`provision: ${x.message}`),
          );
      },
      signal,
    );
    void informer(
      this.kube,
      '/api/v1/persistentvolumes',
      (e) => {
        if (e.type !== 'DELETED')
          void reclaimVolume(this.kube, e.object as never, log).catch((x: Error) =>
            log(`reclaim: ${x.message}`),
          );
      },
      signal,
    );
    startKubeletServers(this, log);
    await startControlServer(this, log);
  }

  /** Kills what a previous agent left: processes in kfp-* namespaces, and the namespaces. */
  private cleanLeftovers(): void {
    for (const ns of listPodNetns()) {
      for (const pid of netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }

  private heartbeat(): void {
    let tick = 0;
    const since = new Map<string, string>();
    const beat = async () => {
      tick++;
      for (const n of nodes) {
        if (this.stoppedNodes.has(n.name)) continue;
        try {
          await renewLease(this.kube, n, this.nodeUids.get(n.name));
          if (tick % 2 === 0 || !since.has(n.name)) {
            const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
            if (!since.has(n.name)) since.set(n.name, t);
            await this.kube.mergePatch(`/api/v1/nodes/${n.name}/status`, {
              status: nodeStatus(n, true, this.kubeletVersion, t, since.get(n.name)!),
            });
          }
        } catch (e) {
          log(`heartbeat ${n.name}: ${(e as Error).message}`);
        }
      }
    };
    const timer = setInterval(() => void beat(), 5000);
    this.abort.signal.addEventListener('abort', () => clearInterval(timer));
    this.resetSince = (name: string) => since.delete(name);
  }
  resetSince: (name: string) => void = () => {};

  private ours(pod: Pod): string | undefined {
    const name = pod.spec.nodeName;
    return name && nodes.some((n) => n.name === name) ? name : undefined;
  }

  private allocateIp(nodeName: string): string {
    const n = nodes.find((x) => x.name === nodeName)!;
    const used = new Set([...this.runners.values()].filter((r) => r.node.name === nodeName).map((r) => r.ip));
    let next = this.nextIp.get(nodeName) ?? 2;
    for (let i = 0; i < 253; i++) {
      const ip = `10.244.${n.index}.${next}`;
      next = next >= 254 ? 2 : next + 1;
      if (!used.has(ip)) {
        this.nextIp.set(nodeName, next);
        return ip;
      }
    }
    throw new Error(`node ${nodeName}: no free pod address`);
  }

  private resync(items: Pod[]): void {
    const live = new Set(items.map((p) => p.metadata.uid));
    for (const [uid, r] of this.runners) {
      if (!live.has(uid)) {
        this.runners.delete(uid);
        void r.halt(0);
      }
    }
  }

  onPod(type: string, pod: Pod): void {
    const uid = pod.metadata.uid!;
    this.pods.set(uid, pod);
    const runner = this.runners.get(uid);
    if (type === 'DELETED') {
      this.pods.delete(uid);
      this.restartCounts.delete(uid);
      if (runner) {
        this.runners.delete(uid);
        void runner.halt(0);
      }
      return;
    }
    const nodeName = this.ours(pod);
    if (!nodeName || this.stoppedNodes.has(nodeName)) return;
    if (runner) runner.pod = pod;
    if (pod.metadata.deletionTimestamp) {
      if (runner) void runner.terminate().then(() => this.runners.delete(uid));
      else void this.deps.finalDelete(pod).catch(() => {});
      return;
    }
    if (runner || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    this.startRunner(pod, nodeName);
  }

  private startRunner(pod: Pod, nodeName: string): void {
    const node = nodes.find((n) => n.name === nodeName)!;
    const r = new PodRunner(
      pod,
      node,
      this.allocateIp(nodeName),
      this.deps,
      this.restartCounts.get(pod.metadata.uid!),
    );
    this.runners.set(r.uid, r);
    void r.start();
  }

  findRunner(namespace: string, name: string): PodRunner | undefined {
    return [...this.runners.values()].find(
      (r) => r.pod.metadata.namespace === namespace && r.pod.metadata.name === name,
    );
  }

  /** A node "loses power": heartbeats stop, its pods' processes are killed, no API writes. */
  async stopNode(name: string): Promise<void> {
    this.stoppedNodes.add(name);
    const mine = [...this.runners.values()].filter((r) => r.node.name === name);
    for (const r of mine) {
      this.restartCounts.set(
        r.uid,
        Object.fromEntries(Object.entries(r.restartCounts()).map(([k, v]) => [k, v + 1])),
      );
      this.runners.delete(r.uid);
    }
    await Promise.all(mine.map((r) => r.halt(0)));
    log(`node ${name} stopped (${mine.length} pods killed)`);
  }

  /** The node comes back: heartbeats resume and the pods still bound to it start again. */
  async restartNode(name: string): Promise<void> {
    this.stoppedNodes.delete(name);
    this.resetSince(name);
    const n = nodes.find((x) => x.name === name)!;
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await renewLease(this.kube, n, this.nodeUids.get(name));
    await this.kube.mergePatch(`/api/v1/nodes/${name}/status`, {
      status: nodeStatus(n, true, this.kubeletVersion, t, t),
    });
    for (const pod of this.pods.values()) if (pod.spec.nodeName === name) this.onPod('MODIFIED', pod);
    log(`node ${name} restarted`);
  }

  podIp(namespace: string, name: string): string | undefined {
    return this.findRunner(namespace, name)?.ip;
  }

  async shutdown(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.runners.values()].map((r) => r.halt(2)));
    this.runners.clear();
    this.kube.close();
  }
}

async function main(): Promise<void> {
  if (!existsSync(pki.cert('agent').cert))
    throw new Error('no PKI: run `cluster up`, which starts the agent');
  const agent = new NodeAgent();
  const stop = async () => {
    log('shutting down');
    await agent.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await agent.start();
  log('node agent ready');
}

if (import.meta.main) {
  main().catch((e: Error) => {
    log(`fatal: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}
