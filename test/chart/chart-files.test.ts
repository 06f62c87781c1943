// Checks of the chart that need no helm binary: CRDs in sync, values typed and documented,
// dashboards well-formed. Rendering, lint and install run in the cluster tier with a built helm.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const chart = new URL('../../charts/keyfleet/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, chart), 'utf8');

// Free-form maps are documented as one value (their keys are the user's, not the chart's).
const freeForm = new Set(['operator.resources']);

function leafPaths(value: unknown, prefix = ''): string[] {
  if (freeForm.has(prefix)) return [prefix];
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    Object.keys(value).length === 0
  ) {
    return [prefix];
  }
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('charts/keyfleet', () => {
  it('ships CRDs identical to crds/', () => {
    const source = new URL('../../crds/', import.meta.url);
    const names = readdirSync(source).filter((n) => n.endsWith('.yaml'));
    expect(names.length).toBe(2);
    for (const name of names) {
      expect(read(`crds/${name}`), `charts/keyfleet/crds/${name} is stale: copy crds/${name}`).toBe(
        readFileSync(new URL(name, source), 'utf8'),
      );
    }
    expect(readdirSync(new URL('crds/', chart)).sort()).toEqual(names.sort());
  });

  it('default values match values.schema.json', () => {
    const ajv = new Ajv({ allErrors: true });
    const validate = ajv.compile(JSON.parse(read('values.schema.json')));
    expect(validate(parse(read('values.yaml'))), JSON.stringify(validate.errors)).toBe(true);
  });

  it('values.schema.json rejects a wrong value', () => {
    const validate = new Ajv().compile(JSON.parse(read('values.schema.json')));
    const values = parse(read('values.yaml')) as { operator: { logLevel: string } };
    values.operator.logLevel = 'chatty';
    expect(validate(values)).toBe(false);
  });

  it('documents every value in the chart README', () => {
    const readme = read('README.md');
    for (const path of leafPaths(parse(read('values.yaml')))) {
      expect(readme, `README.md does not document ${path}`).toContain(`\`${path}\``);
    }
  });

  it('has well-formed dashboards with unique uids, each querying keyfleet metrics', () => {
    const files = readdirSync(new URL('dashboards/', chart)).filter((n) => n.endsWith('.json'));
    expect(files.length).toBe(5);
    const uids = new Set<string>();
    for (const file of files) {
      const dashboard = JSON.parse(read(`dashboards/${file}`)) as {
        uid: string;
        panels: { targets: { expr: string }[] }[];
      };
      uids.add(dashboard.uid);
      const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
      expect(exprs.length).toBeGreaterThan(0);
      for (const expr of exprs) expect(expr).toMatch(/keyfleet_[a-z_]+/);
    }
    expect(uids.size).toBe(files.length);
  });
});
