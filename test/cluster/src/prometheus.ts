// A real Prometheus (Debian's package) on the host, scraping the cluster's pods and evaluating the
// chart's alert rules. Its scrape configuration is generated from the chart's own PodMonitor the
// way the Prometheus Operator generates it (Kubernetes pod discovery, the monitor's selector and
// port as keep rules, the standard target labels, then the monitor's relabelings), so a test
// proves what the chart ships, not a hand-written copy. The host reaches pod IPs directly.
// Debian builds Prometheus without its Kubernetes service discovery, so KubernetesDiscovery below
// does that part: it lists pods and endpoints from the API server every two seconds and writes
// them, with the same __meta_kubernetes_* labels Prometheus's pod and endpoints roles set, to file
// service-discovery files that Prometheus watches; the relabeling is Prometheus's own.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Relabeling } from '../../chart/scrape-labels.ts';
import type { Kube } from './kube.ts';

export interface PodMonitorSpec {
  namespaceSelector?: { any?: boolean; matchNames?: string[] };
  selector: {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
  podMetricsEndpoints: { port: string; path?: string; relabelings?: Relabeling[] }[];
}

/** Kubernetes SD's meta label name for a pod label (Prometheus sanitises the name). */
const metaLabel = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
const metaPresent = (label: string) =>
  `__meta_kubernetes_pod_labelpresent_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
const escapeRegex = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function toRelabelConfig(r: Relabeling): Record<string, unknown> {
  return {
    ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
    ...(r.separator !== undefined ? { separator: r.separator } : {}),
    ...(r.targetLabel ? { target_label: r.targetLabel } : {}),
    ...(r.regex !== undefined ? { regex: r.regex } : {}),
    ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
    action: (r.action ?? 'replace').toLowerCase(),
  };
}

/** The scrape configs the Prometheus Operator would generate for a PodMonitor. */
export function podMonitorScrapeConfigs(
  name: string,
  spec: PodMonitorSpec,
  o: { sdFile: string; scrapeInterval: string },
): Record<string, unknown>[] {
  const keep: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(spec.selector.matchLabels ?? {})) {
    keep.push({
      source_labels: [metaLabel(k), metaPresent(k)],
      regex: `(${escapeRegex(v)});true`,
      action: 'keep',
    });
  }
  for (const e of spec.selector.matchExpressions ?? []) {
    if (e.operator !== 'In') throw new Error(`selector operator ${e.operator} is not modelled here`);
    keep.push({
      source_labels: [metaLabel(e.key), metaPresent(e.key)],
      regex: `(${(e.values ?? []).map(escapeRegex).join('|')});true`,
      action: 'keep',
    });
  }
  return spec.podMetricsEndpoints.map((ep, i) => ({
    job_name: `podMonitor/${name}/${i}`,
    scrape_interval: o.scrapeInterval,
    metrics_path: ep.path ?? '/metrics',
    file_sd_configs: [{ files: [o.sdFile] }],
    relabel_configs: [
      ...keep,
      {
        source_labels: ['__meta_kubernetes_pod_container_port_name'],
        regex: escapeRegex(ep.port),
        action: 'keep',
      },
      { source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)', action: 'drop' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { target_label: 'endpoint', replacement: ep.port },
      ...(ep.relabelings ?? []).map(toRelabelConfig),
    ],
  }));
}

export interface ServiceMonitorSpec {
  selector: { matchLabels?: Record<string, string> };
  endpoints: { port: string; path?: string; honorLabels?: boolean; relabelings?: Relabeling[] }[];
}

/** The scrape configs the Prometheus Operator would generate for a ServiceMonitor (endpoints discovery). */
export function serviceMonitorScrapeConfigs(
  name: string,
  spec: ServiceMonitorSpec,
  o: { sdFile: string; scrapeInterval: string },
): Record<string, unknown>[] {
  const serviceLabel = (l: string) => `__meta_kubernetes_service_label_${l.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const servicePresent = (l: string) =>
    `__meta_kubernetes_service_labelpresent_${l.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const keep = Object.entries(spec.selector.matchLabels ?? {}).map(([k, v]) => ({
    source_labels: [serviceLabel(k), servicePresent(k)],
    regex: `(${escapeRegex(v)});true`,
    action: 'keep',
  }));
  return spec.endpoints.map((ep, i) => ({
    job_name: `serviceMonitor/${name}/${i}`,
    scrape_interval: o.scrapeInterval,
    metrics_path: ep.path ?? '/metrics',
    honor_labels: ep.honorLabels ?? false,
    file_sd_configs: [{ files: [o.sdFile] }],
    relabel_configs: [
      ...keep,
      {
        source_labels: ['__meta_kubernetes_endpoint_port_name'],
        regex: escapeRegex(ep.port),
        action: 'keep',
      },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { target_label: 'endpoint', replacement: ep.port },
      ...(ep.relabelings ?? []).map(toRelabelConfig),
    ],
  }));
}

const sanitize = (l: string) => l.replace(/[^a-zA-Z0-9_]/g, '_');

type TargetGroup = { targets: string[]; labels: Record<string, string> };
type Meta = { name?: string; namespace?: string; labels?: Record<string, string> };
type PodItem = {
  metadata: Meta;
  spec?: { containers?: { name: string; ports?: { name?: string; containerPort: number }[] }[] };
  status?: { podIP?: string; phase?: string };
};
type EndpointsItem = {
  metadata: Meta;
  subsets?: {
    addresses?: { ip: string; targetRef?: { kind?: string; name?: string } }[];
    ports?: { name?: string; port: number }[];
  }[];
};

function labelMeta(prefix: string, labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    out[`${prefix}_label_${sanitize(k)}`] = v;
    out[`${prefix}_labelpresent_${sanitize(k)}`] = 'true';
  }
  return out;
}

/** Prometheus's Kubernetes pod role: one target per container port, with the pod's meta labels. */
export function podTargetGroups(pods: readonly PodItem[]): TargetGroup[] {
  return pods.flatMap((pod) =>
    pod.status?.podIP === undefined
      ? []
      : (pod.spec?.containers ?? []).flatMap((c) =>
          (c.ports ?? []).map((port) => ({
            targets: [`${pod.status?.podIP}:${port.containerPort}`],
            labels: {
              __meta_kubernetes_namespace: pod.metadata.namespace ?? '',
              __meta_kubernetes_pod_name: pod.metadata.name ?? '',
              __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
              __meta_kubernetes_pod_container_name: c.name,
              __meta_kubernetes_pod_container_port_name: port.name ?? '',
              ...labelMeta('__meta_kubernetes_pod', pod.metadata.labels),
            },
          })),
        ),
  );
}

/** Prometheus's Kubernetes endpoints role: one target per address and port, with its Service's labels. */
export function endpointTargetGroups(
  endpoints: readonly EndpointsItem[],
  services: readonly { metadata: Meta }[],
): TargetGroup[] {
  return endpoints.flatMap((ep) => {
    const service = services.find(
      (s) => s.metadata.name === ep.metadata.name && s.metadata.namespace === ep.metadata.namespace,
    );
    return (ep.subsets ?? []).flatMap((subset) =>
      (subset.addresses ?? []).flatMap((address) =>
        (subset.ports ?? []).map((port) => ({
          targets: [`${address.ip}:${port.port}`],
          labels: {
            __meta_kubernetes_namespace: ep.metadata.namespace ?? '',
            __meta_kubernetes_service_name: ep.metadata.name ?? '',
            __meta_kubernetes_endpoint_port_name: port.name ?? '',
            ...(address.targetRef?.kind === 'Pod'
              ? { __meta_kubernetes_pod_name: address.targetRef.name ?? '' }
              : {}),
            ...labelMeta('__meta_kubernetes_service', service?.metadata.labels),
          },
        })),
      ),
    );
  });
}

/** Keeps the two file-SD files current from the API server until stopped. */
export class KubernetesDiscovery {
  readonly podsFile: string;
  readonly endpointsFile: string;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  readonly kube: Kube;
  readonly namespaces: { pods: string[]; endpoints: string[] };

  constructor(kube: Kube, dir: string, namespaces: { pods: string[]; endpoints: string[] }) {
    this.kube = kube;
    this.namespaces = namespaces;
    mkdirSync(dir, { recursive: true });
    this.podsFile = join(dir, 'pods.json');
    this.endpointsFile = join(dir, 'endpoints.json');
  }

  async refresh(): Promise<void> {
    const list = async <T>(ns: string, plural: string) =>
      (await this.kube.list<T & { metadata: Meta }>(`/api/v1/namespaces/${ns}/${plural}`)).items;
    const pods = (await Promise.all(this.namespaces.pods.map((ns) => list<PodItem>(ns, 'pods')))).flat();
    const endpoints = (
      await Promise.all(this.namespaces.endpoints.map((ns) => list<EndpointsItem>(ns, 'endpoints')))
    ).flat();
    const services = (
      await Promise.all(this.namespaces.endpoints.map((ns) => list<{ metadata: Meta }>(ns, 'services')))
    ).flat();
    // Written whole and renamed into place: Prometheus never reads half a file.
    const write = (file: string, groups: TargetGroup[]) => {
      writeFileSync(`${file}.tmp`, JSON.stringify(groups));
      renameSync(`${file}.tmp`, file);
    };
    write(this.podsFile, podTargetGroups(pods as PodItem[]));
    write(this.endpointsFile, endpointTargetGroups(endpoints as EndpointsItem[], services));
  }

  async start(intervalMs = 2000): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.#running = this.refresh().catch(() => undefined);
      this.#timer = setTimeout(tick, intervalMs);
    };
    this.#timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningPrometheus {
  readonly url: string;
  readonly logFile: string;
  /** The firing (or pending) alerts, by name. */
  alerts(): Promise<{ name: string; state: string; labels: Record<string, string> }[]>;
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(o: {
  dir: string;
  scrapeConfigs: Record<string, unknown>[];
  ruleGroups: unknown[];
  evaluationInterval?: string;
}): Promise<RunningPrometheus> {
  mkdirSync(o.dir, { recursive: true });
  const rules = join(o.dir, 'rules.yaml');
  writeFileSync(rules, stringify({ groups: o.ruleGroups }));
  const config = join(o.dir, 'prometheus.yaml');
  const interval = o.evaluationInterval ?? '2s';
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: interval, evaluation_interval: interval },
      rule_files: [rules],
      scrape_configs: o.scrapeConfigs,
    }),
  );
  const port = await freePort();
  const logFile = join(o.dir, 'prometheus.log');
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(o.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', log, log] },
  );
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error}`);
    return body.data;
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}; see ${logFile}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 100) throw new Error(`prometheus not ready after 20 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    logFile,
    alerts: async () =>
      (
        await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')
      ).alerts.map((a) => ({ name: a.labels['alertname'] ?? '', state: a.state, labels: a.labels })),
    query: async (promql) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(promql)}`,
        )
      ).result,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
