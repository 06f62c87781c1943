// The Helm chart on the local cluster, as a user installs it: `helm install` runs the operator as a
// pod (in-cluster ServiceAccount, the chart's RBAC), which brings up a full seven-zone VaultFleet
// and a KeyDirectory in the namespace it watches; `helm upgrade` rolls the operator without
// touching a member; `helm uninstall` removes the operator and its RBAC but keeps the CRDs and
// the custom resources (and so the users' data). Prints install-to-fleet-ready time.
import { afterAll, describe, expect, test } from 'vitest';
import {
  conditionOf,
  createResource,
  customResourcePath,
  directoryAvailable,
  example,
  fleetReady,
  installChart,
  OPERATOR_NAMESPACE,
  uninstallChart,
} from '../src/keyfleet.ts';
import { ensureNamespace, isReady, Kube, type PodObj, until } from './helpers.ts';

const ns = 'helm-demo';
const kube = new Kube();
const figures: Record<string, number> = {};

const operatorPods = async () =>
  (
    await kube.list<PodObj>(
      `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=keyfleet-operator')}`,
    )
  ).items;
const memberUids = async () =>
  (
    await kube.list<PodObj>(
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/instance=backups,app.kubernetes.io/component=member')}`,
    )
  ).items
    .map((p) => `${p.metadata.name}/${p.metadata.uid}`)
    .sort();

afterAll(async () => {
  // Without the operator nothing removes the fleet's finalizer: drop it, then the namespace.
  const fleet = customResourcePath('VaultFleet', ns, 'backups');
  await kube
    .call('PATCH', fleet, { metadata: { finalizers: [] } }, 'application/merge-patch+json')
    .catch(() => undefined);
  await kube.delete(fleet).catch(() => false);
  await kube.delete(customResourcePath('KeyDirectory', ns, 'transparency')).catch(() => false);
  await uninstallChart().catch(() => '');
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(() => false);
  await kube.delete(`/api/v1/namespaces/${OPERATOR_NAMESPACE}`).catch(() => false);
  process.stderr.write(`60-helm figures: ${JSON.stringify(figures)}\n`);
}, 180_000);

describe('the Helm chart on the local cluster', () => {
  test('helm install: the operator runs as a pod with the chart RBAC and brings up a fleet and a directory', async () => {
    await ensureNamespace(kube, ns);
    const started = Date.now();
    await installChart({ watchNamespaces: [ns] });
    const pods = await operatorPods();
    expect(pods.filter(isReady)).toHaveLength(1);
    await createResource(kube, example('keydirectory.yaml', ns));
    await createResource(kube, example('vaultfleet.yaml', ns));
    const fleet = await until(
      'seven certified members and QuorumHealthy',
      () => fleetReady(kube, ns, 'backups'),
      200_000,
      1000,
    );
    const directory = await until(
      'the directory Available',
      () => directoryAvailable(kube, ns, 'transparency'),
      60_000,
      1000,
    );
    figures['installToFleetReadySeconds'] = (Date.now() - started) / 1000;
    expect(fleet.status?.readyMembers).toBe(7);
    expect(directory.status?.publisher).toMatch(/^transparency-publisher-/);
    // The per-namespace Role, not a cluster-wide one, carries the workload permissions.
    expect(
      await kube.getOrUndefined(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/keyfleet`),
    ).toBeDefined();
    expect(
      await kube.getOrUndefined('/apis/rbac.authorization.k8s.io/v1/clusterroles/keyfleet'),
    ).toBeUndefined();
  }, 300_000);

  test('helm upgrade: a new operator pod, no member touched, the fleet stays healthy', async () => {
    const before = await memberUids();
    const oldOperator = (await operatorPods()).map((p) => p.metadata.uid);
    await installChart({ watchNamespaces: [ns], set: ['operator.logLevel=debug'], upgrade: true });
    const now = await until(
      'the upgraded operator Ready',
      async () => {
        const pods = (await operatorPods()).filter(
          (p) => isReady(p) && !oldOperator.includes(p.metadata.uid),
        );
        return pods.length === 1 ? pods : false;
      },
      120_000,
    );
    const spec = (now[0] as unknown as { spec: { containers: { args?: string[] }[] } }).spec;
    expect(spec.containers[0]?.args).toContain('--log-level=debug');
    // Let the new operator reconcile a few times: it must find the fleet as it left it.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await memberUids()).toEqual(before);
    const fleet = await fleetReady(kube, ns, 'backups');
    expect(fleet && conditionOf(fleet.status, 'Available')?.status).toBe('True');
  }, 180_000);

  test('helm uninstall: operator and RBAC gone; CRDs, resources and members kept', async () => {
    const before = await memberUids();
    await uninstallChart();
    await until('the operator pods gone', async () => (await operatorPods()).length === 0, 60_000);
    expect(
      await kube.getOrUndefined(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/keyfleet`),
    ).toBeUndefined();
    expect(
      await kube.getOrUndefined(
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/vaultfleets.keyfleet.dev',
      ),
    ).toBeDefined();
    expect(await kube.getOrUndefined(customResourcePath('VaultFleet', ns, 'backups'))).toBeDefined();
    expect(await memberUids()).toEqual(before);
  }, 120_000);
});
