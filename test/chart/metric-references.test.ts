// Every metric an alert rule or a dashboard query of the rendered chart references is exported by a
// component, and every label it filters or groups by is on that metric once scraped through the
// chart's ServiceMonitor/PodMonitor. Exported names come from the components' registries.
import { describe, expect, it } from 'vitest';
import { type ExportedSeries, exportedSeries } from './exported-metrics.ts';
import { type K8sObject, renderChart } from './helm.ts';
import { grafanaTemplateQuery, promqlReferences } from './promql.ts';
import { scrapeLabels } from './scrape-labels.ts';

const objects = renderChart({
  metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } },
  prometheusRule: { enabled: true },
  grafana: { dashboards: { enabled: true } },
});
const exported = await exportedSeries();
const scrape = scrapeLabels(objects);

interface Query {
  where: string;
  expr: string;
  /** A label a Grafana label_values() query reads from the expression's series. */
  readsLabel?: string;
  /** Labels an alert's annotations print ({{ $labels.x }}). */
  printsLabels?: string[];
}

type Panel = { title?: string; targets?: { expr?: string }[]; panels?: Panel[] };
type Dashboard = {
  title: string;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: string | { query?: string } }[] };
};

function ruleQueries(): Query[] {
  const rule = objects.find((o) => o.kind === 'PrometheusRule') as
    | (K8sObject & {
        spec: {
          groups: {
            name: string;
            rules: { alert?: string; record?: string; expr: string; annotations?: Record<string, string> }[];
          }[];
        };
      })
    | undefined;
  if (!rule) throw new Error('the PrometheusRule did not render');
  return rule.spec.groups.flatMap((g) =>
    g.rules.map((r) => ({
      where: `rule ${g.name}/${r.alert ?? r.record}`,
      expr: String(r.expr),
      printsLabels: [
        ...Object.values(r.annotations ?? {})
          .join(' ')
          .matchAll(/\$labels\.([a-zA-Z_]\w*)/g),
      ].map((m) => m[1] as string),
    })),
  );
}

function panelQueries(dashboard: string, panels: Panel[]): Query[] {
  return panels.flatMap((p) => [
    ...(p.targets ?? []).flatMap((t) =>
      t.expr ? [{ where: `${dashboard} panel "${p.title}"`, expr: t.expr }] : [],
    ),
    ...panelQueries(dashboard, p.panels ?? []),
  ]);
}

function dashboardQueries(): Query[] {
  const maps = objects.filter((o) => o.kind === 'ConfigMap') as (K8sObject & {
    data: Record<string, string>;
  })[];
  if (maps.length === 0) throw new Error('no dashboard ConfigMap rendered');
  return maps.flatMap((map) =>
    Object.entries(map.data).flatMap(([file, json]) => {
      const dashboard = JSON.parse(json) as Dashboard;
      const variables = (dashboard.templating?.list ?? [])
        .filter((v) => v.type === 'query')
        .flatMap((v) => {
          const text = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
          const parsed = grafanaTemplateQuery(text);
          return parsed
            ? [{ where: `${file} variable $${v.name}`, expr: parsed.expr, readsLabel: parsed.label }]
            : [];
        });
      return [...panelQueries(file, dashboard.panels ?? []), ...variables];
    }),
  );
}

const queries = [...ruleQueries(), ...dashboardQueries()];

function labelsOnceScraped(series: ExportedSeries): Set<string> {
  return new Set([...series.labels, ...scrape[series.exporter].targetLabels]);
}

describe('PromQL reader', () => {
  it('finds metric names and the labels around them', () => {
    const refs = promqlReferences(
      'sum by (namespace, vaultfleet) (rate(foo_total{result="error", zone=~"$zone"}[5m])) * 60 > 5 and on (namespace) bar_seconds_bucket offset 1h unless time() - baz < 1e3',
    );
    expect(refs.metrics).toEqual(['foo_total', 'bar_seconds_bucket', 'baz']);
    expect([...(refs.matcherLabels.get('foo_total') ?? [])]).toEqual(['result', 'zone']);
    expect([...refs.groupingLabels].sort()).toEqual(['namespace', 'vaultfleet']);
  });

  it('ignores words inside strings and Grafana variables', () => {
    const refs = promqlReferences(
      'histogram_quantile(0.99, sum(rate(x_bucket{a="not_a_metric"}[$__rate_interval])) by (le))',
    );
    expect(refs.metrics).toEqual(['x_bucket']);
    expect([...refs.groupingLabels]).toEqual(['le']);
  });

  it('refuses an expression it cannot read', () => {
    expect(() => promqlReferences('sum(rate(x[5m])')).toThrow(/unclosed/);
  });

  it('reads Grafana label_values() queries', () => {
    expect(grafanaTemplateQuery('label_values(m{namespace=~"$namespace"}, vaultfleet)')).toEqual({
      expr: 'm{namespace=~"$namespace"}',
      label: 'vaultfleet',
    });
    expect(grafanaTemplateQuery('label_values(namespace)')).toBeNull();
  });
});

describe('rules and dashboards of the rendered chart', () => {
  it('has queries to check: every alert and every panel', () => {
    expect(queries.filter((q) => q.where.startsWith('rule ')).length).toBeGreaterThanOrEqual(8);
    expect(queries.filter((q) => !q.where.startsWith('rule ')).length).toBeGreaterThanOrEqual(15);
  });

  it('the components export series the queries could be checked against', () => {
    for (const name of [
      'keyfleet_reconcile_total',
      'keyfleet_vaultfleet_members_ready',
      'keyfleet_vault_lockouts_total',
      'keyfleet_vault_raft_append_duration_seconds_bucket',
      'keyfleet_directory_queue_depth',
    ]) {
      expect(exported.has(name), name).toBe(true);
    }
    expect(exported.has('keyfleet_vault_raft_append_duration_seconds')).toBe(false);
  });

  it('references only metrics a component exports', () => {
    const unknown: string[] = [];
    for (const q of queries) {
      const { metrics } = promqlReferences(q.expr);
      if (metrics.length === 0) unknown.push(`${q.where}: selects no metric: ${q.expr}`);
      for (const m of metrics)
        if (!exported.has(m)) unknown.push(`${q.where}: ${m} is exported by no component`);
    }
    expect(unknown).toEqual([]);
  });

  it('filters and groups only by labels the scraped series carry', () => {
    const missing: string[] = [];
    for (const q of queries) {
      const refs = promqlReferences(q.expr);
      for (const m of refs.metrics) {
        const series = exported.get(m);
        if (!series) continue; // reported by the test above
        const available = labelsOnceScraped(series);
        const used = [
          ...(refs.matcherLabels.get(m) ?? []),
          ...refs.groupingLabels,
          ...(q.readsLabel ? [q.readsLabel] : []),
        ];
        for (const label of used) {
          if (!available.has(label))
            missing.push(
              `${q.where}: ${m} has no label "${label}" (it has ${[...available].sort().join(', ')})`,
            );
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('alerts print only labels their result keeps', () => {
    const missing: string[] = [];
    for (const q of queries.filter((x) => x.printsLabels)) {
      const refs = promqlReferences(q.expr);
      for (const label of q.printsLabels ?? []) {
        // An aggregation keeps only its by-labels; otherwise every selected series must have it.
        const aggregated = /\b(sum|max|min|avg|count)\b/.test(q.expr) && refs.groupingLabels.size > 0;
        const kept = aggregated
          ? refs.groupingLabels.has(label)
          : refs.metrics.every((m) => {
              const series = exported.get(m);
              return series !== undefined && labelsOnceScraped(series).has(label);
            });
        if (!kept) missing.push(`${q.where} prints $labels.${label}, which its result does not have`);
      }
    }
    expect(queries.some((q) => (q.printsLabels ?? []).length > 0)).toBe(true);
    expect(missing).toEqual([]);
  });

  it("keeps the components' own labels: no target label of the same name overwrites them", () => {
    const clobbered: string[] = [];
    for (const q of queries) {
      for (const m of promqlReferences(q.expr).metrics) {
        const series = exported.get(m);
        if (!series || scrape[series.exporter].honorLabels) continue;
        for (const label of series.labels) {
          if (scrape[series.exporter].targetLabels.has(label)) {
            clobbered.push(
              `${q.where}: ${m}'s own "${label}" would be replaced by the scrape target's (set honorLabels)`,
            );
          }
        }
      }
    }
    expect([...new Set(clobbered)]).toEqual([]);
  });

  it('never sums a series every vault member counts alike (observed on apply): max over members', () => {
    const replicated = [...exported]
      .filter(([, s]) => /observed on apply/.test(s.help))
      .map(([name]) => name);
    expect(replicated).toContain('keyfleet_vault_lockouts_total');
    const summed = queries.filter(
      (q) => /\bsum\b/.test(q.expr) && promqlReferences(q.expr).metrics.some((m) => replicated.includes(m)),
    );
    expect(summed.map((q) => `${q.where}: ${q.expr}`)).toEqual([]);
  });
});
