// helm lint and helm template of charts/keyfleet for several value sets, and checks on what renders:
// structure, namespaces, labels, the operator's flags, pod hardening, RBAC, the custom resources
// against the CRDs, and values.schema.json enforced by helm itself.
import { loadCrd, resourceValidator, storageSchema } from '@keyfleet/sdk/api/index';
import { describe, expect, it } from 'vitest';
import { parseConfig, usage } from '../../operator/src/main.ts';
import {
  type K8sObject,
  lintChart,
  releaseName,
  releaseNamespace,
  renderChart,
  templateChart,
} from './helm.ts';
import { grants, leaderElectionGrants, nodeGrants, workloadGrants } from './rbac-expectations.ts';

const fullname = `${releaseName}-keyfleet`;

const valueSets: Record<string, object> = {
  defaults: {},
  watchNamespaces: { operator: { watchNamespaces: ['team-a', 'team-b'] } },
  twoReplicas: { operator: { replicas: 2 } },
  monitoring: {
    metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } },
    prometheusRule: { enabled: true },
    grafana: { dashboards: { enabled: true } },
  },
  customResources: {
    vaultFleet: {
      create: true,
      name: 'backups',
      spec: { zones: ['dc1', 'dc2', 'dc3', 'dc4', 'dc5'], guessLimit: 10, storage: { size: '1Gi' } },
    },
    keyDirectory: {
      create: true,
      name: 'transparency',
      spec: { epochInterval: '10s', readers: 2, witnesses: 1, storage: { type: 'embedded', size: '1Gi' } },
    },
  },
  digestImage: {
    operator: { image: { digest: `sha256:${'ab'.repeat(32)}`, tag: 'ignored' } },
    images: { vaultNode: 'registry.example/vault-node@sha256:00', directoryNode: 'registry.example/dn:1' },
  },
};

const rendered = Object.fromEntries(
  Object.entries(valueSets).map(([name, values]) => [name, renderChart(values)]),
);

const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as K8sObject;
}

type Container = {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string }[];
  resources: { limits?: { memory?: string } };
  securityContext: Record<string, unknown>;
};
type PodSpec = { containers: Container[]; securityContext: Record<string, unknown> };

function operatorPod(objects: K8sObject[]): PodSpec {
  const deployment = only(objects, 'Deployment') as K8sObject & {
    spec: { replicas: number; template: { spec: PodSpec } };
  };
  return deployment.spec.template.spec;
}

function operatorContainer(objects: K8sObject[]): Container {
  const container = operatorPod(objects).containers.find((c) => c.name === 'operator');
  if (!container) throw new Error('the Deployment has no container named operator');
  return container;
}

function rulesOf(object: K8sObject): Record<string, string> {
  return grants((object as K8sObject & { rules: [] }).rules);
}

describe('helm lint', () => {
  for (const [name, values] of Object.entries(valueSets)) {
    it(`passes --strict with the ${name} values`, () => {
      const result = lintChart(values, true);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    });
  }

  it('fails on values the schema refuses (so a passing lint means something)', () => {
    const result = lintChart({ operator: { logLevel: 'chatty' } }, false);
    expect(result.status).not.toBe(0);
  });
});

describe('helm template', () => {
  it.each(Object.keys(valueSets))(
    '%s: every object has apiVersion, kind, name and the chart labels',
    (set) => {
      const objects = rendered[set] as K8sObject[];
      expect(objects.length).toBeGreaterThan(5);
      for (const o of objects) {
        const what = `${o.kind}/${o.metadata?.name}`;
        expect(o.apiVersion, what).toMatch(/^([a-z0-9.-]+\/)?v[0-9a-z]+$/);
        expect(o.kind, what).toMatch(/^[A-Z][A-Za-z]+$/);
        expect(o.metadata.name, what).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
        expect(o.metadata.labels, what).toMatchObject({
          'app.kubernetes.io/instance': releaseName,
          'app.kubernetes.io/part-of': 'keyfleet',
          'app.kubernetes.io/managed-by': 'Helm',
          'helm.sh/chart': expect.stringMatching(/^keyfleet-\d+\.\d+\.\d+/),
        });
      }
    },
  );

  it.each(Object.keys(valueSets))('%s: namespaced objects land in the release namespace', (set) => {
    const watched: string[] =
      (valueSets[set] as { operator?: { watchNamespaces?: string[] } }).operator?.watchNamespaces ?? [];
    for (const o of rendered[set] as K8sObject[]) {
      const what = `${o.kind}/${o.metadata.name}`;
      if (clusterScoped.has(o.kind)) {
        expect(o.metadata.namespace, what).toBeUndefined();
      } else if (
        (o.kind === 'Role' || o.kind === 'RoleBinding') &&
        watched.includes(o.metadata.namespace ?? '')
      ) {
        // The per-namespace grants of watchNamespaces belong in those namespaces.
        expect(o.metadata.name, what).toBe(fullname);
      } else {
        expect(o.metadata.namespace, what).toBe(releaseNamespace);
      }
    }
  });

  it('renders the optional objects only when enabled', () => {
    const kinds = (set: string) => new Set((rendered[set] as K8sObject[]).map((o) => o.kind));
    for (const kind of [
      'ServiceMonitor',
      'PodMonitor',
      'PrometheusRule',
      'ConfigMap',
      'VaultFleet',
      'KeyDirectory',
    ]) {
      expect(kinds('defaults').has(kind), kind).toBe(false);
    }
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'ConfigMap']) {
      expect(kinds('monitoring').has(kind), kind).toBe(true);
    }
    expect(kinds('customResources')).toContain('VaultFleet');
    expect(kinds('customResources')).toContain('KeyDirectory');
  });

  it('dashboards are ConfigMaps the Grafana sidecar picks up, one parsable dashboard each', () => {
    const maps = (rendered['monitoring'] as K8sObject[]).filter((o) => o.kind === 'ConfigMap');
    expect(maps).toHaveLength(5);
    for (const map of maps) {
      expect(map.metadata.labels?.['grafana_dashboard'], map.metadata.name).toBe('1');
      const data = Object.entries((map as K8sObject & { data: Record<string, string> }).data);
      expect(data).toHaveLength(1);
      const [file, json] = data[0] as [string, string];
      expect(file).toMatch(/\.json$/);
      expect((JSON.parse(json) as { uid?: string }).uid, file).toBeTruthy();
    }
  });

  it.each(Object.keys(valueSets))(
    '%s: the Deployment passes only flags operator/src/main.ts accepts',
    (set) => {
      const container = operatorContainer(rendered[set] as K8sObject[]);
      const documented = new Set([...usage.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]));
      expect(documented.size).toBeGreaterThan(5);
      for (const arg of container.args) {
        expect(documented, `${arg} is not a flag in operator/src/main.ts usage`).toContain(arg.split('=')[0]);
      }
      // The operator's own parser (strict: unknown flags, bad durations and bad lease timings throw).
      const cfg = parseConfig(container.args, {});
      if (cfg === 'help') throw new Error('the Deployment asks for --help');
      expect(cfg.leaderElectionNamespace).toBe(releaseNamespace);
      expect(cfg.leaderElect).toBe(true);
      expect(cfg.metricsAddress).toBe(':8080');
      const values = valueSets[set] as { operator?: { watchNamespaces?: string[] }; images?: object };
      expect(cfg.namespaces).toEqual(values.operator?.watchNamespaces ?? []);
      expect(cfg.images).toEqual({
        vaultNode: 'ghcr.io/keyfleet/vault-node:0.1.0',
        directoryNode: 'ghcr.io/keyfleet/directory-node:0.1.0',
        ...values.images,
      });
    },
  );

  it('a Deployment flag the operator does not know would be caught', () => {
    expect(() => parseConfig(['--metrics-bind-address=:8080'], {})).toThrow();
  });

  it.each(Object.keys(valueSets))('%s: the operator pod is hardened', (set) => {
    const pod = operatorPod(rendered[set] as K8sObject[]);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext['runAsUser']).not.toBe(0);
    for (const c of pod.containers) {
      expect(c.securityContext, c.name).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('uses the image digest when one is given, and the appVersion tag otherwise', () => {
    expect(operatorContainer(rendered['defaults'] as K8sObject[]).image).toBe(
      'ghcr.io/keyfleet/operator:0.1.0',
    );
    expect(operatorContainer(rendered['digestImage'] as K8sObject[]).image).toBe(
      `ghcr.io/keyfleet/operator@sha256:${'ab'.repeat(32)}`,
    );
  });

  it('caps the V8 heap well below the memory limit (about 150 MiB of the process are outside the heap)', () => {
    const container = operatorContainer(rendered['defaults'] as K8sObject[]);
    const heap = /^--max-old-space-size=(\d+)$/.exec(
      container.env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '',
    );
    const limit = /^(\d+)Mi$/.exec(container.resources.limits?.memory ?? '');
    expect(heap, 'NODE_OPTIONS sets the heap cap').not.toBeNull();
    expect(limit, 'the memory limit is given in Mi').not.toBeNull();
    expect(Number(heap?.[1]) + 192).toBeLessThanOrEqual(Number(limit?.[1]));
  });

  it('spreads two replicas over zones', () => {
    const deployment = only(rendered['twoReplicas'] as K8sObject[], 'Deployment') as K8sObject & {
      spec: {
        replicas: number;
        template: { spec: { topologySpreadConstraints?: { topologyKey: string }[] } };
      };
    };
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.topologySpreadConstraints?.[0]?.topologyKey).toBe(
      'topology.kubernetes.io/zone',
    );
  });
});

describe('RBAC', () => {
  const roleKinds = new Set(['ClusterRole', 'Role']);

  it.each(Object.keys(valueSets))('%s: no wildcard anywhere, no non-resource URLs', (set) => {
    for (const o of (rendered[set] as K8sObject[]).filter((x) => roleKinds.has(x.kind))) {
      const rules = (o as K8sObject & { rules: Record<string, string[]>[] }).rules;
      for (const rule of rules) {
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
          expect(rule[field] ?? [], `${o.kind}/${o.metadata.name} ${field}`).not.toContain('*');
        }
        expect(rule['nonResourceURLs'], `${o.kind}/${o.metadata.name}`).toBeUndefined();
      }
    }
  });

  it('all namespaces: a ClusterRole with exactly the workload grants, Nodes read-only, the leader-election Role', () => {
    const objects = rendered['defaults'] as K8sObject[];
    expect(rulesOf(only(objects, 'ClusterRole', fullname))).toEqual(workloadGrants);
    expect(rulesOf(only(objects, 'ClusterRole', `${fullname}-nodes`))).toEqual(nodeGrants);
    expect(rulesOf(only(objects, 'Role', `${fullname}-leader-election`))).toEqual(leaderElectionGrants);
    expect(objects.filter((o) => roleKinds.has(o.kind))).toHaveLength(3);
  });

  it('watchNamespaces: a Role per namespace, and nothing cluster-wide but reading Nodes', () => {
    const objects = rendered['watchNamespaces'] as K8sObject[];
    for (const o of objects.filter((x) => x.kind === 'ClusterRole')) {
      expect(rulesOf(o), o.metadata.name).toEqual(nodeGrants);
    }
    for (const namespace of ['team-a', 'team-b']) {
      const role = objects.find((o) => o.kind === 'Role' && o.metadata.namespace === namespace);
      expect(role, namespace).toBeDefined();
      expect(rulesOf(role as K8sObject)).toEqual(workloadGrants);
    }
    expect(objects.filter((o) => roleKinds.has(o.kind))).toHaveLength(4);
  });

  it('every binding binds an existing role to the chart ServiceAccount', () => {
    for (const set of ['defaults', 'watchNamespaces']) {
      const objects = rendered[set] as K8sObject[];
      const sa = only(objects, 'ServiceAccount');
      const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
      expect(bindings.length).toBeGreaterThan(1);
      for (const b of bindings) {
        const binding = b as K8sObject & {
          roleRef: { kind: string; name: string };
          subjects: { kind: string; name: string; namespace: string }[];
        };
        const role = objects.find(
          (o) =>
            o.kind === binding.roleRef.kind &&
            o.metadata.name === binding.roleRef.name &&
            (o.kind === 'ClusterRole' || o.metadata.namespace === b.metadata.namespace),
        );
        expect(role, `${b.kind}/${b.metadata.name} in ${b.metadata.namespace}`).toBeDefined();
        expect(binding.subjects).toEqual([
          { kind: 'ServiceAccount', name: sa.metadata.name, namespace: releaseNamespace },
        ]);
      }
    }
  });

  it('the grant table notices a widened rule', () => {
    expect(
      grants([
        {
          apiGroups: [''],
          resources: ['secrets'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete', 'update'],
        },
      ])['core/secrets'],
    ).not.toBe(workloadGrants['core/secrets']);
  });
});

describe('custom resources from values', () => {
  const validate = (kind: 'VaultFleet' | 'KeyDirectory', object: unknown) =>
    resourceValidator(storageSchema(loadCrd(kind))).validate(object).errors;

  it('the VaultFleet and KeyDirectory the chart creates validate against the CRDs', () => {
    const objects = rendered['customResources'] as K8sObject[];
    const fleet = only(objects, 'VaultFleet', 'backups');
    expect(validate('VaultFleet', fleet)).toEqual([]);
    expect((fleet as K8sObject & { spec: { image: string } }).spec.image).toBe(
      'ghcr.io/keyfleet/vault-node:0.1.0',
    );
    const directory = only(objects, 'KeyDirectory', 'transparency');
    expect(validate('KeyDirectory', directory)).toEqual([]);
  });

  it('a spec the CRD refuses renders, and the validator catches it', () => {
    const objects = renderChart({ vaultFleet: { create: true, spec: { zones: ['dc1', 'dc2'] } } });
    expect(validate('VaultFleet', only(objects, 'VaultFleet')).length).toBeGreaterThan(0);
  });
});

describe('values.schema.json, enforced by helm template', () => {
  const bad: Record<string, object> = {
    'unknown log level': { operator: { logLevel: 'chatty' } },
    'three replicas as a string': { operator: { replicas: '3' } },
    'zero replicas': { operator: { replicas: 0 } },
    'a namespace that is not a DNS label': { operator: { watchNamespaces: ['Team_A'] } },
    'a duration without unit': { operator: { leaderElection: { leaseDuration: '15' } } },
    'a digest that is not sha256': { operator: { image: { digest: 'md5:abc' } } },
    'a misspelt key': { operator: { replica: 2 } },
    'an unknown top-level key': { prometheusRules: { enabled: true } },
    'a privileged metrics port': { metrics: { port: 80 } },
    'an empty vault image': { images: { vaultNode: '' } },
    'a negative lockout threshold': { prometheusRule: { lockoutRatePerMinute: -1 } },
    'a heap cap that is not a whole number of MiB': { operator: { maxHeapMiB: '128m' } },
  };

  it.each(Object.entries(bad))('refuses %s', (_name, values) => {
    const result = templateChart(values);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
  });
});
