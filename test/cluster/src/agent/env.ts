// A container's environment as the kubelet builds it: Service variables for `kubernetes`,
// envFrom, env (with $(VAR) references), field and resource references.
import type { Container, EnvFromSource, EnvVar, Pod, ResourceFieldSelector } from './types.ts';

/** Looks up one key of a ConfigMap or Secret (Secret values already decoded); undefined if absent. */
export interface RefLookup {
  configMap(name: string): Promise<Record<string, string> | undefined>;
  secret(name: string): Promise<Record<string, string> | undefined>;
}

/** Expands $(NAME) from `vars`; $$ escapes; unknown references stay as written (kubelet's rule). */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : m;
  });
}

export function fieldValue(pod: Pod, fieldPath: string): string {
  const md = pod.metadata;
  const st = pod.status ?? {};
  const lab = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (lab) return (lab[1] === 'labels' ? md.labels : md.annotations)?.[lab[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name;
    case 'metadata.namespace':
      return md.namespace ?? 'default';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return st.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return st.hostIP ?? '';
    default:
      throw new Error(`unsupported fieldRef ${fieldPath}`);
  }
}

function formatMap(m: Record<string, string> | undefined): string {
  return Object.entries(m ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n');
}

const UNITS: Record<string, number> = {
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  m: 1e-3,
};

export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q.trim());
  if (!m) throw new Error(`bad quantity ${q}`);
  return Number(m[1]) * (m[2] ? (UNITS[m[2]] ?? Number.NaN) : 1);
}

/** limits.cpu etc.: the container's limit (or request), else the node's allocatable as the kubelet does. */
export function resourceValue(c: Container | undefined, ref: ResourceFieldSelector): string {
  const [kind, res] = ref.resource.split('.') as [string, string];
  const fromSpec =
    kind === 'limits'
      ? (c?.resources?.limits?.[res] ?? c?.resources?.requests?.[res])
      : c?.resources?.requests?.[res];
  const raw = fromSpec ?? (res === 'cpu' ? '16' : res === 'memory' ? '32Gi' : '0');
  const divisor = ref.divisor ? parseQuantity(ref.divisor) : 1;
  return String(Math.ceil(parseQuantity(raw) / divisor));
}

export async function buildEnv(
  pod: Pod,
  c: Container,
  lookup: RefLookup,
  serviceEnv: Record<string, string>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...serviceEnv };
  for (const src of c.envFrom ?? []) Object.assign(env, await envFrom(src, lookup));
  for (const v of c.env ?? []) {
    // A value may reference variables defined before it (and the Service variables).
    const value = v.value !== undefined ? expand(v.value, env) : await envValue(pod, c, v, lookup);
    if (value !== undefined) env[v.name] = value;
  }
  return env;
}

async function envFrom(src: EnvFromSource, lookup: RefLookup): Promise<Record<string, string>> {
  const ref = src.configMapRef ?? src.secretRef;
  if (!ref) return {};
  const data = src.configMapRef ? await lookup.configMap(ref.name) : await lookup.secret(ref.name);
  if (!data) {
    if (ref.optional) return {};
    throw new Error(`${src.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[`${src.prefix ?? ''}${k}`] = v;
  return out;
}

async function envValue(pod: Pod, c: Container, v: EnvVar, lookup: RefLookup): Promise<string | undefined> {
  const from = v.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) {
    const target = from.resourceFieldRef.containerName
      ? pod.spec.containers.find((x) => x.name === from.resourceFieldRef!.containerName)
      : c;
    return resourceValue(target, from.resourceFieldRef);
  }
  const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
  if (keyRef) {
    const data = from.configMapKeyRef
      ? await lookup.configMap(keyRef.name)
      : await lookup.secret(keyRef.name);
    const value = data?.[keyRef.key];
    if (value === undefined && !keyRef.optional) {
      throw new Error(
        `${from.configMapKeyRef ? 'configmap' : 'secret'} "${keyRef.name}" has no key "${keyRef.key}"`,
      );
    }
    return value;
  }
  return '';
}
