// The Helm chart on the local cluster, as a user installs it: `helm install` runs the operator as a
// pod (in-cluster ServiceAccount, the chart's RBAC), which brings up a full seven-zone VaultFleet
// and a KeyDirectory in the namespace it watches; the fleet's deployment attestation is verified
// end to end (keyfleet verify-fleet, the backup CLI, the directory lookup) and a change is
// re-attested, chained, with the older bundle refused as a rollback; `helm upgrade` rolls the operator without
// touching a member; `helm uninstall` removes the operator and its RBAC but keeps the CRDs and
// the custom resources (and so the users' data). Prints install-to-fleet-ready time.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { renderChart } from '../../chart/helm.ts';
import { repoRoot, stateDir } from '../src/config.ts';
import { faults } from '../src/control-client.ts';
import {
  attestationTrust,
  conditionOf,
  createResource,
  customResourcePath,
  type DirectoryStatus,
  directoryAvailable,
  example,
  type FleetStatus,
  fleetReady,
  installChart,
  OPERATOR_NAMESPACE,
  RELEASE,
  uninstallChart,
} from '../src/keyfleet.ts';
import {
  KubernetesDiscovery,
  type PodMonitorSpec,
  podMonitorScrapeConfigs,
  type ServiceMonitorSpec,
  serviceMonitorScrapeConfigs,
  startPrometheus,
} from '../src/prometheus.ts';
import { ensureNamespace, isReady, Kube, type Obj, type PodObj, run, until } from './helpers.ts';

const ns = 'helm-demo';
const kube = new Kube();
const figures: Record<string, number> = {};

const operatorPods = async () =>
  (
    await kube.list<PodObj>(
      `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=keyfleet-operator')}`,
    )
  ).items;
const keyfleet = (args: string[]) => run(process.execPath, [join(repoRoot, 'sdk/src/cli/main.ts'), ...args]);
const memberPods = async () =>
  (
    await kube.list<PodObj>(
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/instance=backups,app.kubernetes.io/component=member')}`,
    )
  ).items;
const memberUids = async () => (await memberPods()).map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort();

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

  test('the attestation chain end to end: verified, used by the CLI, logged, re-attested on a change, rollback refused', async () => {
    const fleetPath = customResourcePath('VaultFleet', ns, 'backups');
    type Fleet = Obj & { status?: FleetStatus };
    const first = await until(
      'the fleet attested',
      async () => {
        const f = await kube.get<Fleet>(fleetPath);
        return (f.status?.attestation?.serial ?? 0) >= 1 ? f : false;
      },
      120_000,
      1000,
    );
    const d = await kube.get<Obj & { status?: DirectoryStatus }>(
      customResourcePath('KeyDirectory', ns, 'transparency'),
    );
    // A fresh client state each run: the last accepted bundle of an earlier cluster would (rightly)
    // not verify under this cluster's keys.
    const dir = join(stateDir, '60-helm', 'client');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const trust = join(dir, 'attestation-trust.json');
    writeFileSync(trust, await attestationTrust(kube, ns, 'backups', d.status));
    const member = (await memberPods()).find(isReady);
    const served = `http://${member?.status?.podIP}:8080`;
    // The member serves the bundle once the kubelet has written the ConfigMap into its volume.
    await until(
      'the member serving the bundle',
      async () => (await fetch(`${served}/v1/attestation`)).status === 200,
      120_000,
      1000,
    );
    const verify = async (bundle: string, previous?: string) =>
      keyfleet([
        'verify-fleet',
        '--bundle',
        bundle,
        '--trust',
        trust,
        '--json',
        ...(previous ? ['--previous', previous] : []),
      ]);
    const v1 = await verify(`${served}/v1/attestation`);
    expect(v1.code, v1.stderr + v1.stdout).toBe(0);
    expect(JSON.parse(v1.stdout)).toMatchObject({
      valid: true,
      envelopeDigest: first.status?.attestation?.digest,
    });
    const bundle1 = join(dir, 'bundle-1.json');
    writeFileSync(bundle1, Buffer.from(await (await fetch(`${served}/v1/attestation`)).arrayBuffer()));

    // The backup CLI checks the served attestation before it sends anything.
    const password = join(dir, 'password');
    writeFileSync(password, 'correct horse battery staple\n');
    const backup = (action: string, url: string) =>
      keyfleet([
        'backup',
        action,
        '--attestation-trust',
        trust,
        '--fleet',
        `${ns}/backups`,
        '--url',
        url,
        '--user',
        'erin',
        '--password-file',
        password,
        '--json',
      ]);
    const registered = await backup('register', served);
    expect(registered.code, registered.stderr + registered.stdout).toBe(0);
    const other = (await memberPods()).filter(isReady)[4];
    const recovered = await backup('recover', `http://${other?.status?.podIP}:8080`);
    expect(recovered.code, recovered.stderr + recovered.stdout).toBe(0);
    expect(JSON.parse(recovered.stdout).backupKey).toBe(JSON.parse(registered.stdout).backupKey);

    // The directory logs the envelope digest under fleet/<ns>/<name>, with a proof the CLI verifies.
    const reader = (
      await kube.list<PodObj>(
        `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/component=reader')}`,
      )
    ).items.find(isReady);
    const lookup = await keyfleet([
      'lookup',
      '--url',
      `http://${reader?.status?.podIP}:8080`,
      '--user',
      `fleet/${ns}/backups`,
      '--vrf-key',
      d.status?.vrfPublicKey as string,
      '--signing-key',
      d.status?.signingPublicKey as string,
      '--json',
    ]);
    expect(lookup.code, lookup.stderr).toBe(0);
    expect(`sha256:${Buffer.from(JSON.parse(lookup.stdout).value, 'base64url').toString('hex')}`).toBe(
      first.status?.attestation?.digest,
    );

    // A change that matters to clients (the image) is attested again, chained to the first.
    await kube.mergePatch(fleetPath, { spec: { image: 'ghcr.io/keyfleet/vault-node:0.1.1' } });
    const second = await until(
      'the new image attested',
      async () => {
        const f = await kube.get<Fleet>(fleetPath);
        return (f.status?.attestation?.serial ?? 0) >= 2 && (await fleetReady(kube, ns, 'backups'))
          ? f
          : false;
      },
      240_000,
      2000,
    );
    const bundle2 = join(dir, 'bundle-2.json');
    const now = (await memberPods()).find(isReady);
    await until(
      'the member serving the second bundle',
      async () => {
        const served2 = await fetch(`http://${now?.status?.podIP}:8080/v1/attestation`);
        return served2.status === 200 && (await served2.text()) !== readFileSync(bundle1, 'utf8');
      },
      120_000,
      1000,
    );
    writeFileSync(
      bundle2,
      Buffer.from(await (await fetch(`http://${now?.status?.podIP}:8080/v1/attestation`)).arrayBuffer()),
    );
    const v2 = await verify(bundle2, bundle1);
    expect(v2.code, v2.stderr + v2.stdout).toBe(0);
    const result2 = JSON.parse(v2.stdout) as { envelopeDigest: string; changes: string[] | null };
    expect(result2.envelopeDigest).toBe(second.status?.attestation?.digest);
    expect(result2.changes?.join('\n')).toMatch(/vault-node:0\.1\.1/);
    // Handing a client the older bundle after it accepted the newer one is a rollback.
    const rollback = await verify(bundle1, bundle2);
    expect(rollback.code).toBe(1);
    expect(JSON.parse(rollback.stdout).valid).toBe(false);
  }, 420_000);

  test('a real Prometheus scrapes through the chart monitors; killing four zones fires the quorum-lost alert', async () => {
    // The monitors and rules of the installed release, as `helm template` renders them.
    const objects = renderChart(
      {
        metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } },
        prometheusRule: { enabled: true },
        operator: { watchNamespaces: [ns] },
      },
      [],
      RELEASE,
    );
    const byKind = (kind: string) =>
      objects.find((o) => o.kind === kind) as (Obj & { spec: unknown }) | undefined;
    const podMonitor = byKind('PodMonitor');
    const serviceMonitor = byKind('ServiceMonitor');
    const rule = byKind('PrometheusRule') as (Obj & { spec: { groups: unknown[] } }) | undefined;
    if (!podMonitor || !serviceMonitor || !rule)
      throw new Error('the chart rendered no PodMonitor, ServiceMonitor or PrometheusRule');
    const promDir = join(stateDir, '60-helm', 'prometheus');
    rmSync(promDir, { recursive: true, force: true });
    const discovery = new KubernetesDiscovery(kube, promDir, { pods: [ns], endpoints: [OPERATOR_NAMESPACE] });
    await discovery.start();
    const prometheus = await startPrometheus({
      dir: promDir,
      scrapeConfigs: [
        ...podMonitorScrapeConfigs('members', podMonitor.spec as PodMonitorSpec, {
          sdFile: discovery.podsFile,
          scrapeInterval: '2s',
        }),
        ...serviceMonitorScrapeConfigs('operator', serviceMonitor.spec as ServiceMonitorSpec, {
          sdFile: discovery.endpointsFile,
          scrapeInterval: '2s',
        }),
      ],
      ruleGroups: rule.spec.groups,
    });
    const stopped: string[] = [];
    try {
      // Every component is scraped, with the fleet labels the rules and dashboards group by.
      let lastSeen = '';
      const scraped = await until(
        'members, directory pods and the operator scraped',
        async () => {
          const up = await prometheus.query('up == 1');
          const members = up.filter((s) => s.metric['vaultfleet'] === 'backups').length;
          const directory = up.filter((s) => s.metric['keydirectory'] === 'transparency').length;
          const operatorUp = up.some((s) => s.metric['job']?.startsWith('serviceMonitor/operator/'));
          lastSeen = `members ${members}/7, directory pods ${directory}/4, operator ${operatorUp}`;
          return members === 7 && directory >= 4 && operatorUp ? { members, directory } : false;
        },
        90_000,
        2000,
      ).catch((e: Error) => {
        throw new Error(`${e.message} (last: ${lastSeen}; ${prometheus.logFile})`);
      });
      figures['scrapedDirectoryPods'] = scraped.directory;
      // The operator's gauge follows its own observation; give it a scrape or two to say 7.
      await until(
        'keyfleet_vaultfleet_members_ready 7 in Prometheus',
        async () =>
          (await prometheus.query('keyfleet_vaultfleet_members_ready')).find(
            (s) => s.metric['vaultfleet'] === 'backups',
          )?.value[1] === '7',
        180_000,
        2000,
      );
      expect(
        (await prometheus.query('keyfleet_directory_epoch{keydirectory="transparency"}')).length,
      ).toBeGreaterThan(0);

      // Kill four zones (not the operator's node: the alert needs the operator's gauges).
      const operatorNode = (await operatorPods())[0]?.spec?.nodeName;
      const zones = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7']
        .filter((z) => `kf-${z}` !== operatorNode)
        .slice(0, 4);
      const killedAt = Date.now();
      for (const zone of zones) {
        await faults.stopNode(zone);
        stopped.push(zone);
      }
      const alert = await until(
        'KeyfleetFleetQuorumLost firing',
        async () => {
          const alerts = await prometheus.alerts();
          return alerts.find(
            (a) =>
              a.name === 'KeyfleetFleetQuorumLost' &&
              a.state === 'firing' &&
              a.labels['vaultfleet'] === 'backups',
          );
        },
        240_000,
        2000,
      );
      figures['quorumLostAlertFiringSeconds'] = (Date.now() - killedAt) / 1000;
      expect(alert.labels['severity']).toBe('critical');
      expect(alert.labels['namespace']).toBe(ns);
      // A member down is reported too (pending until its 5 minutes are up).
      const down = (await prometheus.alerts()).filter((a) => a.name === 'KeyfleetVaultMemberDown');
      expect(down.map((a) => a.labels['zone']).sort()).toEqual(expect.arrayContaining(zones));
    } finally {
      for (const zone of stopped) await faults.restartNode(zone);
      await prometheus.stop();
      await discovery.stop();
    }
    await until(
      'seven ready members after the zones returned',
      () => fleetReady(kube, ns, 'backups'),
      240_000,
      2000,
    );
  }, 600_000);

  test('helm upgrade: a new operator pod, no member touched, the fleet stays healthy', async () => {
    // Start from a settled fleet: the zones stopped by the test before may still be healing
    // (node-lost members are recreated), which is not the upgrade's doing.
    await until('the fleet ready', () => fleetReady(kube, ns, 'backups'), 240_000, 2000);
    let previous = '';
    const before = await until(
      'member pods unchanged for 20 s',
      async () => {
        const uids = await memberUids();
        const same = uids.join(',') === previous;
        previous = uids.join(',');
        return same ? uids : false;
      },
      240_000,
      20_000,
    );
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
