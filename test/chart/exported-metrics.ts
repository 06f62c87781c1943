// The metric series each keyfleet component exports, read from the components' own metric
// registries instantiated in-process (the same constructors the processes call), not from a list
// kept by hand: a renamed metric changes what this returns.

import { collectDefaultMetrics, Registry } from 'prom-client';
import { createMetrics as createDirectoryMetrics } from '../../directory-node/src/metrics.ts';
import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { RaftMetrics } from '../../vault-node/src/raft/node/metrics.ts';
import { EscrowMetrics } from '../../vault-node/src/server/escrow-metrics.ts';

/** Who exports a series, which decides how it is scraped (operator: ServiceMonitor; members: PodMonitor). */
export type Exporter = 'operator' | 'vault-node' | 'directory-node';

export interface ExportedSeries {
  exporter: Exporter;
  /** The labels the component itself puts on the series (target labels come from the scrape). */
  labels: ReadonlySet<string>;
  help: string;
}

/** Series names as Prometheus stores them: histograms as _bucket (with le), _sum and _count. */
async function seriesOf(registry: Registry, exporter: Exporter): Promise<Map<string, ExportedSeries>> {
  const out = new Map<string, ExportedSeries>();
  for (const family of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(family.name) as unknown as { labelNames?: string[] } | undefined;
    const labels = new Set(metric?.labelNames ?? []);
    const help = family.help;
    // prom-client types `type` as a numeric enum; at run time it is the text-format name.
    switch (String(family.type)) {
      case 'histogram':
        out.set(`${family.name}_bucket`, { exporter, help, labels: new Set([...labels, 'le']) });
        out.set(`${family.name}_sum`, { exporter, help, labels });
        out.set(`${family.name}_count`, { exporter, help, labels });
        break;
      case 'summary':
        out.set(family.name, { exporter, help, labels: new Set([...labels, 'quantile']) });
        out.set(`${family.name}_sum`, { exporter, help, labels });
        out.set(`${family.name}_count`, { exporter, help, labels });
        break;
      default:
        // Counters: prom-client's text format exposes the name as registered (ours end in _total).
        out.set(family.name, { exporter, help, labels });
    }
  }
  return out;
}

function operatorRegistry(): Registry {
  // As operator/src/main.ts: the operator metrics plus the default process metrics, unprefixed.
  const { registry } = createOperatorMetrics();
  collectDefaultMetrics({ register: registry });
  return registry;
}

function vaultRegistry(): Registry {
  // As vault-node/src/server/vault-member.ts: escrow, Raft and prefixed process metrics on one registry.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyfleet_vault_process_' });
  new EscrowMetrics(registry);
  new RaftMetrics(registry);
  return registry;
}

export async function exportedSeries(): Promise<Map<string, ExportedSeries>> {
  const all = new Map<string, ExportedSeries>();
  const sources: [Registry, Exporter][] = [
    [operatorRegistry(), 'operator'],
    [vaultRegistry(), 'vault-node'],
    [createDirectoryMetrics({ defaults: true }).registry, 'directory-node'],
  ];
  for (const [registry, exporter] of sources) {
    for (const [name, series] of await seriesOf(registry, exporter)) {
      // Unprefixed process_* / nodejs_* series come from the operator and directory alike.
      if (!all.has(name)) all.set(name, series);
    }
  }
  return all;
}
