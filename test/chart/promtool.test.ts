// The chart's PrometheusRule checked by promtool (Debian's prometheus package): the rendered groups
// must load (`check rules`), and the unit tests in rules.test.yaml must pass (`test rules`): each
// alert fires on synthetic series of the labels the components export, and stays quiet when healthy.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type K8sObject, renderChart } from './helm.ts';

const install = 'apt-get install -y --no-install-recommends prometheus';

/** promtool from PROMTOOL or PATH; throws (a failure, not a skip) saying how to install it. */
function promtool(): string {
  const candidates = process.env['PROMTOOL']
    ? [process.env['PROMTOOL']]
    : (process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'promtool'));
  const found = candidates.find((path) => path !== '' && existsSync(path));
  if (!found)
    throw new Error(`promtool is not installed: ${install} (Debian's package provides /usr/bin/promtool)`);
  return found;
}

function runPromtool(args: string[], cwd: string): { status: number; output: string } {
  const run = spawnSync(promtool(), args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw run.error;
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

const work = mkdtempSync(join(tmpdir(), 'keyfleet-rules-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Writes the rendered PrometheusRule's spec as a Prometheus rule file; returns its path. */
function writeRuleFile(values: object, name: string): string {
  const rule = renderChart({ prometheusRule: { enabled: true, ...values } }).find(
    (o: K8sObject) => o.kind === 'PrometheusRule',
  ) as (K8sObject & { spec: { groups: unknown[] } }) | undefined;
  if (!rule) throw new Error('the PrometheusRule did not render');
  const path = join(work, name);
  writeFileSync(path, stringify({ groups: rule.spec.groups }));
  return path;
}

describe('promtool', () => {
  it('check rules: the rendered groups load, with default and changed thresholds', () => {
    for (const [values, file] of [
      [{}, 'defaults.yaml'],
      [
        {
          lockoutRatePerMinute: 0.5,
          epochStalledMinutes: 30,
          witnessLagEpochs: 10,
          attestationExpiryDays: 1,
        },
        'tuned.yaml',
      ],
    ] as const) {
      const result = runPromtool(['check', 'rules', writeRuleFile(values, file)], work);
      expect(result.status, result.output).toBe(0);
      expect(result.output).toMatch(/SUCCESS: 8 rules found/);
    }
  });

  it('check rules fails on a broken expression (so SUCCESS means something)', () => {
    const path = join(work, 'broken.yaml');
    writeFileSync(
      path,
      stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'sum(rate(x[5m])' }] }] }),
    );
    expect(runPromtool(['check', 'rules', path], work).status).not.toBe(0);
  });

  it('test rules: every alert fires on its failure and not when healthy (rules.test.yaml)', () => {
    writeRuleFile({}, 'keyfleet-rules.yaml');
    copyFileSync(new URL('rules.test.yaml', import.meta.url), join(work, 'rules.test.yaml'));
    const result = runPromtool(['test', 'rules', 'rules.test.yaml'], work);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS/);
  });

  it('the unit tests cover every alert the chart defines', () => {
    const tests = parse(readFileSync(new URL('rules.test.yaml', import.meta.url), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      tests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    const rule = renderChart({ prometheusRule: { enabled: true } }).find(
      (o) => o.kind === 'PrometheusRule',
    ) as K8sObject & {
      spec: { groups: { rules: { alert: string }[] }[] };
    };
    const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts.length).toBe(8);
    for (const alert of alerts) expect(firing, `rules.test.yaml never makes ${alert} fire`).toContain(alert);
  });
});
