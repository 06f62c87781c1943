import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadCrd } from './crds.ts';
import { storageSchema } from './schema.ts';
import { applyDefaults } from './validate.ts';

describe('kind-config.yaml', () => {
  it('has one control plane and one worker per default VaultFleet zone', () => {
    const config = parse(readFileSync(new URL('../../../kind-config.yaml', import.meta.url), 'utf8')) as {
      nodes: { role: string; labels?: Record<string, string> }[];
    };
    const defaults = applyDefaults(storageSchema(loadCrd('VaultFleet')), { spec: {} }) as {
      spec: { zones: string[] };
    };
    expect(config.nodes.filter((n) => n.role === 'control-plane')).toHaveLength(1);
    const zones = config.nodes
      .filter((n) => n.role === 'worker')
      .map((n) => n.labels?.['topology.kubernetes.io/zone']);
    expect(zones).toEqual(defaults.spec.zones);
  });
});
