// The labels Prometheus puts on scraped series, as the Prometheus Operator configures it from the
// chart's ServiceMonitor (operator) and PodMonitor (vault and directory pods): its standard target
// labels plus the PodMonitor's relabelings, applied to the pod labels the operator really sets.

import { testDirectory } from '../../operator/src/specs/directory/test-directory.ts';
import { publisherDeployment } from '../../operator/src/specs/directory/workloads.ts';
import { memberPod } from '../../operator/src/specs/member-pod.ts';
import { testFleet } from '../../operator/src/specs/test-fleet.ts';
import type { Exporter } from './exported-metrics.ts';
import type { K8sObject } from './helm.ts';

/** Target labels the Prometheus Operator sets on every ServiceMonitor / PodMonitor target. */
export const serviceMonitorTargetLabels = [
  'namespace',
  'service',
  'pod',
  'container',
  'endpoint',
  'job',
  'instance',
];
export const podMonitorTargetLabels = ['namespace', 'pod', 'container', 'endpoint', 'job', 'instance'];

export interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
  action?: string;
}

/** Prometheus's `replace` relabeling (the only action the chart uses); other actions are refused. */
export function relabel(
  labels: Record<string, string>,
  rules: readonly Relabeling[],
): Record<string, string> {
  const out = { ...labels };
  for (const rule of rules) {
    const action = (rule.action ?? 'replace').toLowerCase();
    if (action !== 'replace') throw new Error(`relabel action ${action} is not modelled by this test`);
    if (!rule.targetLabel) throw new Error('a replace relabeling needs targetLabel');
    const value = (rule.sourceLabels ?? []).map((l) => out[l] ?? '').join(rule.separator ?? ';');
    const match = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).exec(value);
    if (!match) continue;
    const result = (rule.replacement ?? '$1').replace(
      /\$\{?(\d+)\}?/g,
      (_a, n: string) => match[Number(n)] ?? '',
    );
    if (result === '') delete out[rule.targetLabel];
    else out[rule.targetLabel] = result;
  }
  return out;
}

/** Kubernetes service discovery's meta labels of a pod (label names sanitised as Prometheus does). */
function podMetaLabels(
  namespace: string,
  name: string,
  podLabels: Record<string, string>,
): Record<string, string> {
  const meta: Record<string, string> = {
    __meta_kubernetes_namespace: namespace,
    __meta_kubernetes_pod_name: name,
  };
  for (const [k, v] of Object.entries(podLabels))
    meta[`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`] = v;
  return meta;
}

/** A vault member pod as operator/src/specs builds it (fleet "backups", zone dc1). */
export const vaultMemberPod = memberPod(testFleet(), { zone: 'dc1', clusterState: 'new' });
const vaultPodLabels = vaultMemberPod.metadata?.labels ?? {};
// The operator does not build directory pods yet; the chart's PodMonitor selects them by these
// recommended labels, so they are what a directory pod must carry.
/** A directory pod as the operator builds it (the publisher's template; readers and witnesses match). */
export const directoryPodTemplate = publisherDeployment(testDirectory()).spec?.template;
export const directoryPodLabels: Record<string, string> = directoryPodTemplate?.metadata?.labels ?? {};

type Monitor = K8sObject & {
  spec: {
    endpoints?: { honorLabels?: boolean; relabelings?: Relabeling[] }[];
    podMetricsEndpoints?: { honorLabels?: boolean; relabelings?: Relabeling[] }[];
  };
};

export interface ScrapeLabels {
  /** Labels the scrape adds to every series of this exporter. */
  targetLabels: ReadonlySet<string>;
  /** Whether the series' own labels win over target labels of the same name (honorLabels). */
  honorLabels: boolean;
}

/** What the rendered monitors make of each exporter's series. */
export function scrapeLabels(objects: readonly K8sObject[]): Record<Exporter, ScrapeLabels> {
  const find = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind) as Monitor[];
    if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
    return found[0] as Monitor;
  };
  const serviceEndpoint = find('ServiceMonitor').spec.endpoints?.[0] ?? {};
  const podEndpoint = find('PodMonitor').spec.podMetricsEndpoints?.[0] ?? {};
  const forPod = (podLabels: Record<string, string>): ScrapeLabels => {
    const relabeled = relabel(podMetaLabels('vaults', 'pod-0', podLabels), podEndpoint.relabelings ?? []);
    const added = Object.keys(relabeled).filter((l) => !l.startsWith('__'));
    return {
      targetLabels: new Set([...podMonitorTargetLabels, ...added]),
      honorLabels: podEndpoint.honorLabels === true,
    };
  };
  return {
    operator: {
      targetLabels: new Set([
        ...serviceMonitorTargetLabels,
        ...(serviceEndpoint.relabelings ?? []).flatMap((r) => r.targetLabel ?? []),
      ]),
      honorLabels: serviceEndpoint.honorLabels === true,
    },
    'vault-node': forPod(vaultPodLabels),
    'directory-node': forPod(directoryPodLabels),
  };
}
