import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { paths } from '../src/config.ts';
import { ApiError, Kube, type Obj } from '../src/kube.ts';
import { runAsync } from '../src/sh.ts';
import { binPath } from '../src/versions.ts';

export { ApiError, Kube, type Obj };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 90_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
  );
}

export function yamlDocs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJSON() as Obj | null)
    .filter((d): d is Obj => d !== null);
}

export function yamlText(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Obj | null)
    .filter((d): d is Obj => d !== null);
}

/** The REST collection path of an object (core, apps, and custom groups; namespaced or not). */
export function collectionPath(obj: Obj, plural: string, namespaced = true): string {
  const [group, version] = obj.apiVersion!.includes('/') ? obj.apiVersion!.split('/') : ['', obj.apiVersion!];
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return namespaced
    ? `${base}/namespaces/${obj.metadata.namespace ?? 'default'}/${plural}`
    : `${base}/${plural}`;
}

/** A command with the cluster's kubeconfig in its environment. */
export function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runAsync(cmd, args, 60_000, { KUBECONFIG: paths.kubeconfig, ...env });
}

export const kubectl = (...args: string[]) => run(binPath('kubectl'), args);
export const helm = (...args: string[]) => run(binPath('helm'), args);

export type PodObj = Obj & {
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; restartCount: number; ready: boolean }[];
  };
};

export const isReady = (p: PodObj | undefined) =>
  p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

export async function ensureNamespace(kube: Kube, name: string): Promise<void> {
  // A namespace still terminating from an earlier run must be gone before it is made again.
  await until(
    `namespace ${name} not terminating`,
    async () => {
      const existing = await kube.getOrUndefined(`/api/v1/namespaces/${name}`);
      return !existing?.metadata.deletionTimestamp;
    },
    120_000,
    500,
  );
  if (!(await kube.getOrUndefined(`/api/v1/namespaces/${name}`))) {
    await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  await until(`service account default in ${name}`, () =>
    kube.getOrUndefined(`/api/v1/namespaces/${name}/serviceaccounts/default`),
  );
}

/** GET http://<ip>:8080<path> of an echo pod from the host (the node side, like a kubelet probe). */
export async function echo<T = Record<string, unknown>>(
  ip: string,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: T }> {
  const r = await fetch(`http://${ip}:8080${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
  return { status: r.status, body: (await r.json()) as T };
}

/** An HTTP GET made from inside pod `fromIp` (echo's /fetch): whether `url` answered 200. */
export async function reachable(fromIp: string, url: string, timeoutMs = 2000): Promise<boolean> {
  const r = await echo<{ status?: number }>(
    fromIp,
    `/fetch?timeoutMs=${timeoutMs}&url=${encodeURIComponent(url)}`,
  );
  return r.status === 200 && r.body.status === 200;
}
