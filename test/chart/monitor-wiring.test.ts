// The rendered objects find each other: Deployment selector -> pod labels, Service -> operator pod
// and its named port, ServiceMonitor -> Service and port, PodMonitor -> the vault member pods the
// operator builds (operator/src/specs) and their metrics port. A label or port renamed on one side
// only is what silently leaves Prometheus with nothing to scrape.
import { describe, expect, it } from 'vitest';
import { type K8sObject, releaseNamespace, renderChart } from './helm.ts';
import { directoryPodLabels, directoryPodTemplate, vaultMemberPod } from './scrape-labels.ts';

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};

/** Kubernetes label-selector semantics (In, NotIn, Exists, DoesNotExist). */
function selects(selector: Selector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        return value !== undefined && (e.values ?? []).includes(value);
      case 'NotIn':
        return value === undefined || !(e.values ?? []).includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  });
  return byLabels && byExpressions;
}

function one<T = K8sObject>(objects: K8sObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as T;
}

type Deployment = K8sObject & {
  spec: {
    selector: Selector;
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { name: string; ports?: { name: string; containerPort: number }[] }[] };
    };
  };
};
type Service = K8sObject & {
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string | number }[];
  };
};
type ServiceMonitor = K8sObject & {
  spec: { selector: Selector; namespaceSelector?: unknown; endpoints: { port: string }[] };
};
type PodMonitor = K8sObject & {
  spec: {
    selector: Selector;
    namespaceSelector: { any?: boolean; matchNames?: string[] };
    podMetricsEndpoints: { port: string }[];
  };
};

const monitoring = { metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } } };

describe('monitoring wiring', () => {
  const objects = renderChart(monitoring);
  const deployment = one<Deployment>(objects, 'Deployment');
  const service = one<Service>(objects, 'Service');
  const podLabels = deployment.spec.template.metadata.labels;
  const containerPorts = deployment.spec.template.spec.containers.flatMap((c) => c.ports ?? []);

  it('the Deployment selects its own pods', () => {
    expect(selects(deployment.spec.selector, podLabels)).toBe(true);
  });

  it('the metrics Service selects the operator pods and targets their named metrics port', () => {
    expect(selects({ matchLabels: service.spec.selector }, podLabels)).toBe(true);
    for (const port of service.spec.ports) {
      const target = containerPorts.find(
        (p) => p.name === port.targetPort || p.containerPort === port.targetPort,
      );
      expect(target, `Service port ${port.name} -> ${port.targetPort}`).toBeDefined();
      expect(target?.containerPort).toBe(8080);
    }
  });

  it('the ServiceMonitor selects the metrics Service (its own namespace) and one of its ports', () => {
    const monitor = one<ServiceMonitor>(objects, 'ServiceMonitor');
    expect(monitor.spec.namespaceSelector).toBeUndefined();
    expect(monitor.metadata.namespace).toBe(service.metadata.namespace);
    expect(selects(monitor.spec.selector, service.metadata.labels ?? {})).toBe(true);
    const portNames = service.spec.ports.map((p) => p.name);
    for (const endpoint of monitor.spec.endpoints) expect(portNames).toContain(endpoint.port);
  });

  it('the PodMonitor does not also scrape the operator pods as members', () => {
    const monitor = one<PodMonitor>(objects, 'PodMonitor');
    expect(selects(monitor.spec.selector, podLabels)).toBe(false);
  });

  it('the PodMonitor selects the vault member pods the operator builds, by their metrics port', () => {
    const monitor = one<PodMonitor>(objects, 'PodMonitor');
    expect(selects(monitor.spec.selector, vaultMemberPod.metadata?.labels ?? {})).toBe(true);
    expect(selects(monitor.spec.selector, directoryPodLabels)).toBe(true);
    // Each kind of pod has a port one of the endpoints scrapes.
    const portsOf = (spec: typeof vaultMemberPod.spec) =>
      (spec?.containers ?? []).flatMap((c) => c.ports ?? []).map((p) => p.name ?? '');
    const endpoints = monitor.spec.podMetricsEndpoints.map((e) => e.port);
    expect(portsOf(vaultMemberPod.spec).filter((p) => endpoints.includes(p))).toEqual(['metrics']);
    expect(portsOf(directoryPodTemplate?.spec).filter((p) => endpoints.includes(p))).toEqual(['http']);
    expect(monitor.spec.namespaceSelector).toEqual({ any: true });
  });

  it('with watchNamespaces the PodMonitor looks in exactly those namespaces', () => {
    const watched = renderChart({ ...monitoring, operator: { watchNamespaces: ['team-a', 'team-b'] } });
    const monitor = one<PodMonitor>(watched, 'PodMonitor');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['team-a', 'team-b'] });
    expect(monitor.metadata.namespace).toBe(releaseNamespace);
  });
});
