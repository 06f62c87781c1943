// keyfleet on the local cluster, as a user installs it: the Helm chart (operator, CRDs, RBAC), then
// the example VaultFleet and KeyDirectory. Shared by `npm run main` and the cluster tier's chart
// test, so both prove the same path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyDirectoryStatus, VaultFleetStatus } from '@keyfleet/sdk/api/index';
import { parseAllDocuments } from 'yaml';
import { paths, repoRoot } from './config.ts';
import type { Kube, Obj } from './kube.ts';
import { runAsync } from './sh.ts';
import { binPath } from './versions.ts';

export const CHART_DIR = join(repoRoot, 'charts/keyfleet');
export const OPERATOR_NAMESPACE = 'keyfleet-system';
export const RELEASE = 'keyfleet';

/** kubectl or helm with the cluster's kubeconfig. */
function kubeTool(tool: 'helm' | 'kubectl', args: string[], timeoutMs: number) {
  return runAsync(binPath(tool), args, timeoutMs, { KUBECONFIG: paths.kubeconfig });
}

export const helmCommand = (args: string[]) => kubeTool('helm', args, 300_000);

async function helmOrThrow(args: string[]): Promise<string> {
  const r = await helmCommand(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `helm install` (or upgrade, when installed) of the chart, waiting for the operator to be Ready. */
export async function installChart(o: {
  watchNamespaces: string[];
  set?: string[];
  upgrade?: boolean;
}): Promise<string> {
  const sets = [`operator.watchNamespaces={${o.watchNamespaces.join(',')}}`, ...(o.set ?? [])];
  return helmOrThrow([
    o.upgrade ? 'upgrade' : 'install',
    RELEASE,
    CHART_DIR,
    '--namespace',
    OPERATOR_NAMESPACE,
    ...(o.upgrade ? ['--reuse-values'] : ['--create-namespace']),
    ...sets.flatMap((s) => ['--set', s]),
    '--wait',
    '--timeout',
    '3m',
  ]);
}

export function uninstallChart(): Promise<string> {
  return helmOrThrow(['uninstall', RELEASE, '--namespace', OPERATOR_NAMESPACE, '--wait', '--timeout', '2m']);
}

/** An object of crds/examples/<file>, moved to `namespace`. */
export function example(file: string, namespace: string): Obj & { spec: Record<string, unknown> } {
  const text = readFileSync(join(repoRoot, 'crds/examples', file), 'utf8');
  const [doc] = parseAllDocuments(text).map((d) => d.toJS() as Obj & { spec: Record<string, unknown> });
  if (doc === undefined) throw new Error(`crds/examples/${file} is empty`);
  return { ...doc, metadata: { ...doc.metadata, namespace } };
}

const plural = { VaultFleet: 'vaultfleets', KeyDirectory: 'keydirectories' } as const;

export function customResourcePath(kind: keyof typeof plural, namespace: string, name?: string): string {
  const base = `/apis/keyfleet.dev/v1alpha1/namespaces/${namespace}/${plural[kind]}`;
  return name === undefined ? base : `${base}/${name}`;
}

/** Applies one CRD of crds/ (server-side) and waits until the API serves its kind. */
export async function applyCrd(kube: Kube, kind: keyof typeof plural): Promise<void> {
  const file = join(repoRoot, 'crds', `${plural[kind]}.keyfleet.dev.yaml`);
  const r = await kubeTool('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', file], 60_000);
  if (r.code !== 0) throw new Error(`applying ${file}: ${r.stderr}`);
  // Right after a CRD is created the API server may answer 404 or 429 ("storage is initializing").
  const served = () => kube.getOrUndefined(customResourcePath(kind, 'default')).catch(() => undefined);
  for (let i = 0; !(await served()); i++) {
    if (i > 150) throw new Error(`the ${kind} CRD is not served after 30 s`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Creates the object unless it exists. */
export async function createResource(kube: Kube, obj: Obj): Promise<void> {
  const kind = obj.kind as keyof typeof plural;
  const ns = obj.metadata.namespace as string;
  if (await kube.getOrUndefined(customResourcePath(kind, ns, obj.metadata.name))) return;
  await kube.create(customResourcePath(kind, ns), obj);
}

export type FleetStatus = VaultFleetStatus;
export type DirectoryStatus = KeyDirectoryStatus;

export const conditionOf = (
  s: { conditions?: { type: string; status: string }[] } | undefined,
  type: string,
) => s?.conditions?.find((c) => c.type === type);

/** The fleet, once all its members are Ready, certified and QuorumHealthy; else false. */
export async function fleetReady(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<(Obj & { status?: FleetStatus }) | false> {
  const f = await kube.getOrUndefined<Obj & { spec: { zones: string[] }; status?: FleetStatus }>(
    customResourcePath('VaultFleet', namespace, name),
  );
  const zones = f?.spec.zones.length ?? 0;
  const certified = f?.status?.members?.filter((m) => m.ready && m.hsmKeyId).length ?? 0;
  return f !== undefined &&
    zones > 0 &&
    certified === zones &&
    conditionOf(f.status, 'QuorumHealthy')?.status === 'True'
    ? f
    : false;
}

/** The directory, once Available with its readers Ready; else false. */
export async function directoryAvailable(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<(Obj & { spec: { readers: number }; status?: DirectoryStatus }) | false> {
  const d = await kube.getOrUndefined<Obj & { spec: { readers: number }; status?: DirectoryStatus }>(
    customResourcePath('KeyDirectory', namespace, name),
  );
  return d?.status?.phase === 'Available' && d.status.readyReaders === d.spec.readers ? d : false;
}

/** The keys a client trusts, read from the cluster (a real client gets them out of band). */
export async function attestationTrust(
  kube: Kube,
  namespace: string,
  fleet: string,
  directory: DirectoryStatus | undefined,
): Promise<string> {
  const secret = await kube.get<Obj & { data: Record<string, string> }>(
    `/api/v1/namespaces/${namespace}/secrets/${fleet}-attestation-key`,
  );
  const operatorKey = Object.entries(secret.data).find(([k]) => k.endsWith('.pub'))?.[1];
  if (operatorKey === undefined) throw new Error(`Secret ${fleet}-attestation-key has no public key`);
  const trust = await kube.get<Obj & { data: Record<string, string> }>(
    `/api/v1/namespaces/${namespace}/configmaps/${fleet}-trust`,
  );
  return `${JSON.stringify(
    {
      operatorKeys: [Buffer.from(operatorKey, 'base64').toString('hex')],
      witnessKeys: (directory?.witnesses ?? []).map((w) => w.publicKey),
      manufacturerCaKeys: [trust.data['manufacturer-ca.ed25519.pub']],
      directory: { vrfPublicKey: directory?.vrfPublicKey, signingKey: directory?.signingPublicKey },
    },
    null,
    2,
  )}\n`;
}
