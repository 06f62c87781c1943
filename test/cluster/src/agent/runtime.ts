// One pod on one node: its network namespace, volumes, init containers, containers (restarted per
// restartPolicy with back-off), probes, graceful termination, and the status the kubelet reports.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NodeLayout, net, paths } from '../config.ts';
import { podNetDown, podNetNames, podNetUp } from '../network.ts';
import { signalGroup } from '../proc.ts';
import { buildEnv, expand, type RefLookup } from './env.ts';
import { containerPath, type ImageRule, localImageId, matchImage, resolveCommand } from './images.ts';
import { execIn, type LaunchSpec, launch, prologue, writePrologue } from './launch.ts';
import { runAction } from './probes.ts';
import type { Container, Pod, PodCondition, Probe } from './types.ts';
import { containerMounts, materialiseVolumes, refreshVolumes, type VolumeLookups } from './volumes.ts';

export interface RuntimeDeps {
  images: ImageRule[];
  lookupsFor(pod: Pod): RefLookup & VolumeLookups;
  writeStatus(pod: Pod, status: Record<string, unknown>): Promise<void>;
  finalDelete(pod: Pod): Promise<void>;
  log(msg: string): void;
}

type State =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | {
      kind: 'terminated';
      exitCode: number;
      signal?: string;
      reason: string;
      startedAt: string;
      finishedAt: string;
    };

interface Ctr {
  spec: Container;
  init: boolean;
  state: State;
  last?: State;
  restartCount: number;
  ready: boolean;
  started: boolean;
  child?: ChildProcess;
  launch?: LaunchSpec;
  timers: NodeJS.Timeout[];
  backoffMs: number;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000; // the kubelet's is 10s..300s; shorter so tests see restarts quickly
// The kubelet syncs configMap/secret volumes about once a minute; 5 s keeps tests short.
const VOLUME_REFRESH_MS = 5_000;

export class PodRunner {
  pod: Pod;
  readonly node: NodeLayout;
  readonly uid: string;
  ip = '';
  private readonly dir: string;
  private readonly deps: RuntimeDeps;
  private ctrs: Ctr[] = [];
  private phase = 'Pending';
  private startTime = now();
  private stopping = false;
  private terminating: Promise<void> | undefined;
  private sandboxReady = false;
  private stopped = false;
  private initDone = false;
  private statusTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private statusChain: Promise<void> = Promise.resolve();
  private setupError: string | undefined;
  private volumes = new Map<string, string>();
  private readonly lookups: RefLookup & VolumeLookups;

  constructor(
    pod: Pod,
    node: NodeLayout,
    ip: string,
    deps: RuntimeDeps,
    restartCounts: Record<string, number> = {},
  ) {
    this.pod = pod;
    this.node = node;
    this.uid = pod.metadata.uid!;
    this.ip = ip;
    this.deps = deps;
    this.dir = join(paths.pods, this.uid);
    this.lookups = deps.lookupsFor(pod);
    const mk = (spec: Container, init: boolean): Ctr => ({
      spec,
      init,
      state: { kind: 'waiting', reason: init ? 'PodInitializing' : 'ContainerCreating' },
      restartCount: restartCounts[spec.name] ?? 0,
      ready: false,
      started: false,
      timers: [],
      backoffMs: BACKOFF_START_MS,
    });
    this.ctrs = [
      ...(pod.spec.initContainers ?? []).map((c) => mk(c, true)),
      ...pod.spec.containers.map((c) => mk(c, false)),
    ];
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }
  get netns(): string {
    return podNetNames(this.uid).netns;
  }
  restartCounts(): Record<string, number> {
    return Object.fromEntries(this.ctrs.map((c) => [c.spec.name, c.restartCount]));
  }
  logFile(container: string, restart?: number): string {
    const c = this.ctrs.find((x) => x.spec.name === container);
    const n = restart ?? c?.restartCount ?? 0;
    return join(
      paths.logs,
      'pods',
      `${this.pod.metadata.namespace}_${this.pod.metadata.name}_${this.uid.slice(0, 8)}`,
      container,
      `${n}.log`,
    );
  }
  pids(): number[] {
    return this.ctrs.flatMap((c) => (c.child?.pid && c.state.kind === 'running' ? [c.child.pid] : []));
  }
  containerNames(): string[] {
    return this.ctrs.map((c) => c.spec.name);
  }

  /** Sets up the sandbox and runs the pod; returns once containers are launched (or setup failed). */
  async start(): Promise<void> {
    const t0 = Date.now();
    try {
      mkdirSync(this.dir, { recursive: true });
      podNetUp(this.uid, this.node.bridge, this.node.gateway, this.ip);
      this.sandboxReady = true;
      this.writeEtc();
      this.volumes = await this.retry('volumes', () => materialiseVolumes(this.pod, this.dir, this.lookups));
    } catch (e) {
      this.setupError = (e as Error).message;
      this.deps.log(`${this.key}: sandbox setup failed: ${this.setupError}`);
      this.scheduleStatus();
      return;
    }
    this.deps.log(`${this.key}: sandbox ready on ${this.node.name} ip ${this.ip} in ${Date.now() - t0}ms`);
    this.scheduleStatus();
    this.refreshTimer = setInterval(() => {
      if (!this.stopping) {
        refreshVolumes(this.pod, this.dir, this.lookups).catch((e: Error) =>
          this.deps.log(`${this.key}: volume refresh: ${e.message}`),
        );
      }
    }, VOLUME_REFRESH_MS);
    void this.runInitThenMain();
  }

  private async retry<T>(what: string, fn: () => Promise<T>, attempts = 30): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (i >= attempts || this.stopping) throw e;
        this.setupError = `${what}: ${(e as Error).message}`;
        this.scheduleStatus();
        await sleep(1000);
      }
    }
  }

  private writeEtc(): void {
    const etc = join('/etc/netns', this.netns);
    mkdirSync(etc, { recursive: true });
    const ns = this.pod.metadata.namespace ?? 'default';
    const d = net.clusterDomain;
    writeFileSync(
      join(etc, 'resolv.conf'),
      `nameserver ${net.dnsServiceIp}\nsearch ${ns}.svc.${d} svc.${d} ${d}\noptions ndots:5\n`,
    );
    const host = this.hostname();
    const fqdn = this.pod.spec.subdomain ? `${host}.${this.pod.spec.subdomain}.${ns}.svc.${d} ` : '';
    writeFileSync(
      join(etc, 'hosts'),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n${this.ip}\t${fqdn}${host}\n`,
    );
  }

  private hostname(): string {
    return this.pod.spec.hostname ?? this.pod.metadata.name;
  }

  private async runInitThenMain(): Promise<void> {
    for (const c of this.ctrs.filter((x) => x.init)) {
      for (;;) {
        if (this.stopping) return;
        const code = await this.runToCompletion(c);
        if (code === 0) break;
        if (this.pod.spec.restartPolicy === 'Never') {
          this.phase = 'Failed';
          this.scheduleStatus();
          return;
        }
        await sleep(this.nextBackoff(c));
      }
    }
    this.initDone = true;
    if (this.stopping) return;
    this.phase = 'Running';
    for (const c of this.ctrs.filter((x) => !x.init)) void this.startContainer(c);
    this.scheduleStatus();
  }

  private nextBackoff(c: Ctr): number {
    const ms = c.backoffMs;
    c.backoffMs = Math.min(c.backoffMs * 2, BACKOFF_MAX_MS);
    return ms;
  }

  private async prepare(c: Ctr): Promise<LaunchSpec> {
    const rule = matchImage(this.deps.images, c.spec.image);
    if (!rule) throw new Error(`image ${c.spec.image} is not in test/cluster/images.yaml`);
    const serviceEnv: Record<string, string> = {
      PATH: containerPath,
      HOME: '/root',
      HOSTNAME: this.hostname(),
      KUBERNETES_SERVICE_HOST: net.kubernetesServiceIp,
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: `tcp://${net.kubernetesServiceIp}:443`,
      KUBERNETES_PORT_443_TCP: `tcp://${net.kubernetesServiceIp}:443`,
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: net.kubernetesServiceIp,
    };
    const env = await buildEnv(this.withIps(), c.spec, this.lookups, serviceEnv);
    const command = c.spec.command?.map((s) => expand(s, env));
    const args = c.spec.args?.map((s) => expand(s, env));
    const { argv, cwd } = resolveCommand(rule, command, args, c.spec.workingDir);
    const mounts = containerMounts(c.spec, this.volumes, this.pod);
    const script = join(this.dir, `${c.spec.name}.sh`);
    writePrologue(script, prologue(this.hostname(), mounts, cwd));
    return { netns: this.netns, script, argv, env };
  }

  private withIps(): Pod {
    return { ...this.pod, status: { ...this.pod.status, podIP: this.ip, hostIP: this.node.gateway } };
  }

  private async runToCompletion(c: Ctr): Promise<number> {
    const child = await this.spawn(c);
    if (!child) return 1;
    return new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 137 : 1))));
  }

  private async spawn(c: Ctr): Promise<ChildProcess | undefined> {
    let spec: LaunchSpec;
    try {
      spec = await this.prepare(c);
    } catch (e) {
      c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: (e as Error).message };
      this.deps.log(`${this.key}/${c.spec.name}: ${(e as Error).message}`);
      this.scheduleStatus();
      return undefined;
    }
    c.launch = spec;
    const child = launch(spec, this.logFile(c.spec.name));
    c.child = child;
    const startedAt = now();
    c.state = { kind: 'running', startedAt };
    c.ready = false;
    c.started = !c.spec.startupProbe;
    child.on('exit', (code, signal) => {
      c.child = undefined;
      for (const t of c.timers) clearTimeout(t);
      c.timers = [];
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1);
      c.state = {
        kind: 'terminated',
        exitCode,
        ...(signal ? { signal } : {}),
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: now(),
      };
      c.ready = false;
      this.deps.log(`${this.key}/${c.spec.name}: exited ${signal ?? exitCode}`);
      this.scheduleStatus();
      if (!c.init) void this.afterExit(c);
    });
    child.on('error', (e) => this.deps.log(`${this.key}/${c.spec.name}: spawn error ${e.message}`));
    this.scheduleStatus();
    return child;
  }

  private async startContainer(c: Ctr): Promise<void> {
    const child = await this.spawn(c);
    if (!child) {
      if (!this.stopping) setTimeout(() => void this.startContainer(c), this.nextBackoff(c));
      return;
    }
    const post = c.spec.lifecycle?.postStart;
    if (post) void runAction(post, c.spec, this.ip, 30_000, (argv, t) => execIn({ ...c.launch!, argv }, t));
    this.startProbes(c, child);
  }

  private async afterExit(c: Ctr): Promise<void> {
    if (this.stopping) return;
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    const st = c.state;
    const failed = st.kind === 'terminated' && st.exitCode !== 0;
    if (policy === 'Always' || (policy === 'OnFailure' && failed)) {
      const wait = this.nextBackoff(c);
      c.last = c.state;
      c.state = {
        kind: 'waiting',
        reason: failed ? 'CrashLoopBackOff' : 'Completed',
        message: `back-off ${wait}ms restarting ${c.spec.name}`,
      };
      this.scheduleStatus();
      await sleep(wait);
      if (this.stopping) return;
      c.restartCount++;
      void this.startContainer(c);
      return;
    }
    const mains = this.ctrs.filter((x) => !x.init);
    if (mains.every((x) => x.state.kind === 'terminated')) {
      this.phase = mains.every((x) => x.state.kind === 'terminated' && x.state.exitCode === 0)
        ? 'Succeeded'
        : 'Failed';
      this.scheduleStatus();
    }
  }

  private startProbes(c: Ctr, child: ChildProcess): void {
    const alive = () => c.child === child && !this.stopping;
    const exec = (argv: string[], t: number) => execIn({ ...c.launch!, argv }, t);
    const loop = (p: Probe, onResult: (ok: boolean, streak: number) => boolean | undefined) => {
      let succ = 0;
      let fail = 0;
      const tick = async () => {
        if (!alive()) return;
        const ok = await runAction(p, c.spec, this.ip, (p.timeoutSeconds ?? 1) * 1000, exec).catch(
          () => false,
        );
        if (!alive()) return;
        if (ok) {
          succ++;
          fail = 0;
        } else {
          fail++;
          succ = 0;
        }
        const done = onResult(ok, ok ? succ : fail);
        if (!done) c.timers.push(setTimeout(tick, (p.periodSeconds ?? 10) * 1000));
      };
      c.timers.push(setTimeout(tick, (p.initialDelaySeconds ?? 0) * 1000));
    };
    const afterStartup = () => {
      const live = c.spec.livenessProbe;
      if (live) {
        loop(live, (ok, streak) => {
          if (!ok && streak >= (live.failureThreshold ?? 3)) {
            this.deps.log(`${this.key}/${c.spec.name}: liveness probe failed ${streak} times, restarting`);
            void this.killContainer(c, this.pod.spec.terminationGracePeriodSeconds ?? 30);
            return true;
          }
          return false;
        });
      }
      const rp = c.spec.readinessProbe;
      if (rp) {
        loop(rp, (ok, streak) => {
          let next = c.ready;
          if (ok && streak >= (rp.successThreshold ?? 1)) next = true;
          if (!ok && streak >= (rp.failureThreshold ?? 3)) next = false;
          if (next !== c.ready) {
            c.ready = next;
            this.scheduleStatus();
          }
          return false;
        });
      } else {
        c.ready = true;
        this.scheduleStatus();
      }
    };
    const sp = c.spec.startupProbe;
    if (sp) {
      loop(sp, (ok, streak) => {
        if (ok) {
          c.started = true;
          this.scheduleStatus();
          afterStartup();
          return true;
        }
        if (streak >= (sp.failureThreshold ?? 3)) {
          void this.killContainer(c, this.pod.spec.terminationGracePeriodSeconds ?? 30);
          return true;
        }
        return false;
      });
    } else {
      afterStartup();
    }
  }

  /** preStop hook, SIGTERM, SIGKILL after the grace period; resolves when the process is gone. */
  private async killContainer(c: Ctr, graceSeconds: number, runPreStop = true): Promise<void> {
    const child = c.child;
    if (!child?.pid) return;
    const deadline = Date.now() + graceSeconds * 1000;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const pre = c.spec.lifecycle?.preStop;
    if (pre && runPreStop && graceSeconds > 0) {
      const t = Math.max(deadline - Date.now(), 0);
      await Promise.race([
        runAction(pre, c.spec, this.ip, t, (argv, tm) => execIn({ ...c.launch!, argv }, tm)).catch(
          () => false,
        ),
        sleep(t),
        exited,
      ]);
    }
    signalGroup(child.pid, 'SIGTERM');
    const left = Math.max(deadline - Date.now(), 0);
    await Promise.race([exited, sleep(left)]);
    if (c.child === child) {
      signalGroup(child.pid, 'SIGKILL');
      await exited;
    }
  }

  /** SIGKILL every container now (a crash: the restart policy then applies). */
  crashContainers(): void {
    for (const c of this.ctrs) if (c.child?.pid) signalGroup(c.child.pid, 'SIGKILL');
  }

  /**
   * Graceful termination after the pod was deleted in the API, then the final delete. Every call
   * returns the same promise (status writes during termination bring more pod events).
   */
  terminate(): Promise<void> {
    this.terminating ??= this.runTermination();
    return this.terminating;
  }

  private async runTermination(): Promise<void> {
    const grace =
      this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
    this.deps.log(`${this.key}: terminating (grace ${grace}s)`);
    this.stopping = true;
    await Promise.all(this.ctrs.map((c) => this.killContainer(c, grace)));
    this.teardown();
    await this.deps
      .finalDelete(this.pod)
      .catch((e: Error) => this.deps.log(`${this.key}: final delete: ${e.message}`));
  }

  /** Stop without any API writes (node stop/crash, pod force-deleted, agent shutdown). */
  async halt(graceSeconds = 0): Promise<void> {
    this.stopping = true;
    await Promise.all(this.ctrs.map((c) => this.killContainer(c, graceSeconds, graceSeconds > 0)));
    this.teardown();
  }

  private teardown(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.statusTimer);
    clearInterval(this.refreshTimer);
    for (const c of this.ctrs) for (const t of c.timers) clearTimeout(t);
    podNetDown(this.uid);
    rmSync(join('/etc/netns', this.netns), { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs a command in a container's namespaces (the `exec` of the fault/inspection API). */
  async exec(
    container: string | undefined,
    argv: string[],
    timeoutMs: number,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const c = container ? this.ctrs.find((x) => x.spec.name === container) : this.ctrs.find((x) => !x.init);
    if (!c?.launch) throw new Error(`${this.key}: container ${container ?? '(first)'} has not started`);
    return execIn({ ...c.launch, argv }, timeoutMs);
  }

  scheduleStatus(): void {
    if (this.stopped || this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.statusChain = this.statusChain
        .then(() => (this.stopped ? undefined : this.deps.writeStatus(this.pod, this.status())))
        .catch((e: Error) => this.deps.log(`${this.key}: status write: ${e.message}`));
    }, 50);
  }

  status(): Record<string, unknown> {
    const mains = this.ctrs.filter((c) => !c.init);
    const inits = this.ctrs.filter((c) => c.init);
    const allReady = this.phase === 'Running' && mains.every((c) => c.ready && c.state.kind === 'running');
    const t = now();
    const cond = (type: string, ok: boolean, reason?: string): PodCondition => {
      const prev = this.pod.status?.conditions?.find((x) => x.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        ...(reason && !ok ? { reason } : {}),
        lastProbeTime: null,
        lastTransitionTime: prev && prev.status === status ? (prev.lastTransitionTime ?? t) : t,
      };
    };
    const ours = new Set(['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']);
    const conditions = [
      ...(this.pod.status?.conditions ?? []).filter((x) => !ours.has(x.type)),
      cond('PodReadyToStartContainers', this.sandboxReady),
      cond('Initialized', this.initDone, 'ContainersNotInitialized'),
      cond('ContainersReady', allReady, 'ContainersNotReady'),
      cond('Ready', allReady, 'ContainersNotReady'),
    ];
    const cs = (c: Ctr) => ({
      name: c.spec.name,
      image: c.spec.image,
      imageID: localImageId(c.spec.image),
      containerID: c.child?.pid ? `keyfleet://${c.child.pid}` : undefined,
      ready: c.ready,
      started: c.state.kind === 'running' && c.started,
      restartCount: c.restartCount,
      state: stateJson(
        this.setupError && c.state.kind === 'waiting'
          ? { kind: 'waiting', reason: 'ContainerCreating', message: this.setupError }
          : c.state,
      ),
      lastState: c.last ? stateJson(c.last) : {},
    });
    return {
      phase: this.phase,
      conditions,
      hostIP: this.node.gateway,
      hostIPs: [{ ip: this.node.gateway }],
      podIP: this.ip,
      podIPs: [{ ip: this.ip }],
      startTime: this.pod.status?.startTime ?? this.startTime,
      initContainerStatuses: inits.length ? inits.map(cs) : undefined,
      containerStatuses: mains.map(cs),
    };
  }
}

function stateJson(s: State): Record<string, unknown> {
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case 'running':
      return { running: { startedAt: s.startedAt } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          reason: s.reason,
          ...(s.signal ? { signal: s.signal === 'SIGKILL' ? 9 : s.signal === 'SIGTERM' ? 15 : 0 } : {}),
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
        },
      };
  }
}
