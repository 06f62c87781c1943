// Materialises a pod's volumes as directories under .state/pods/<uid>/volumes/ (PVCs resolve to
// their PersistentVolume's directory) and lists the bind mounts each container gets.
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fieldValue, resourceValue } from './env.ts';
import type { Container, DownwardItem, KeyToPath, Pod, Volume } from './types.ts';

export interface VolumeLookups {
  configMap(name: string): Promise<Record<string, string> | undefined>;
  /** Secret data, base64-decoded to bytes. */
  secretBytes(name: string): Promise<Record<string, Buffer> | undefined>;
  /** A bound service-account token (TokenRequest API). */
  token(serviceAccount: string, audience: string | undefined, expirationSeconds: number): Promise<string>;
  /** Host directory of the PersistentVolume bound to a claim; throws while it is unbound. */
  claimPath(claimName: string): Promise<string>;
}

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** A path inside a volume must stay inside it. */
function safeJoin(root: string, rel: string): string {
  const p = normalize(join(root, rel));
  if (!p.startsWith(`${root}/`) && p !== root) throw new Error(`volume path ${rel} escapes its volume`);
  return p;
}

/** Writes through a temporary file and a rename, so a reader never sees a half-written file. */
function writeItem(root: string, rel: string, data: string | Buffer, mode: number): void {
  const file = safeJoin(root, rel);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.keyfleet-tmp`;
  writeFileSync(tmp, data);
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/**
 * The keys of a configMap/secret, or only `items`. A listed key that is missing fails the volume,
 * unless the source is optional: then the kubelet skips that path (a pod mounting an optional
 * ConfigMap whose key is not written yet must start).
 */
function writeKeys(
  root: string,
  data: Record<string, string | Buffer>,
  items: KeyToPath[] | undefined,
  mode: number,
  what: string,
  optional = false,
): void {
  if (items?.length) {
    for (const it of items) {
      const v = data[it.key];
      if (v === undefined && optional) continue;
      if (v === undefined) throw new Error(`${what} has no key "${it.key}"`);
      writeItem(root, it.path, v, it.mode ?? mode);
    }
  } else {
    for (const [k, v] of Object.entries(data)) writeItem(root, k, v, mode);
  }
}

function writeDownward(root: string, pod: Pod, items: DownwardItem[] | undefined, mode: number): void {
  for (const it of items ?? []) {
    const value = it.fieldRef
      ? fieldValue(pod, it.fieldRef.fieldPath)
      : it.resourceFieldRef
        ? resourceValue(
            pod.spec.containers.find((c) => c.name === it.resourceFieldRef!.containerName),
            it.resourceFieldRef,
          )
        : '';
    writeItem(root, it.path, value, it.mode ?? mode);
  }
}

/** Writes every volume of the pod; returns volume name -> host directory. */
export async function materialiseVolumes(
  pod: Pod,
  podDir: string,
  api: VolumeLookups,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of pod.spec.volumes ?? [])
    out.set(v.name, await materialise(pod, v, join(podDir, 'volumes', v.name), api));
  return out;
}

/**
 * Re-writes the pod's configMap, secret and downwardAPI volumes from the API, as the kubelet does
 * periodically, so a running container sees updates (not through subPath mounts, as in Kubernetes).
 * Projected volumes keep what they got at start (their token is not refreshed either).
 */
export async function refreshVolumes(pod: Pod, podDir: string, api: VolumeLookups): Promise<void> {
  for (const v of pod.spec.volumes ?? []) {
    if (v.configMap || v.secret || v.downwardAPI)
      await materialise(pod, v, join(podDir, 'volumes', v.name), api);
  }
}

async function materialise(pod: Pod, v: Volume, dir: string, api: VolumeLookups): Promise<string> {
  if (v.persistentVolumeClaim) return api.claimPath(v.persistentVolumeClaim.claimName);
  if (v.hostPath) return v.hostPath.path;
  mkdirSync(dir, { recursive: true });
  if (v.emptyDir) return dir;
  if (v.configMap) {
    const data = await api.configMap(v.configMap.name);
    if (!data) {
      if (v.configMap.optional) return dir;
      throw new Error(`configmap "${v.configMap.name}" not found`);
    }
    writeKeys(
      dir,
      data,
      v.configMap.items,
      v.configMap.defaultMode ?? 0o644,
      `configmap ${v.configMap.name}`,
      v.configMap.optional,
    );
    return dir;
  }
  if (v.secret) {
    const data = await api.secretBytes(v.secret.secretName);
    if (!data) {
      if (v.secret.optional) return dir;
      throw new Error(`secret "${v.secret.secretName}" not found`);
    }
    writeKeys(
      dir,
      data,
      v.secret.items,
      v.secret.defaultMode ?? 0o644,
      `secret ${v.secret.secretName}`,
      v.secret.optional,
    );
    return dir;
  }
  if (v.downwardAPI) {
    writeDownward(dir, pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644);
    return dir;
  }
  if (v.projected) {
    const mode = v.projected.defaultMode ?? 0o644;
    for (const s of v.projected.sources) {
      if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const token = await api.token(
          pod.spec.serviceAccountName ?? 'default',
          t.audience,
          t.expirationSeconds ?? 3607,
        );
        writeItem(dir, t.path, token, mode === 0o644 ? 0o600 : mode);
      } else if (s.configMap) {
        const data = await api.configMap(s.configMap.name);
        if (data)
          writeKeys(
            dir,
            data,
            s.configMap.items,
            mode,
            `configmap ${s.configMap.name}`,
            s.configMap.optional,
          );
        else if (!s.configMap.optional) throw new Error(`configmap "${s.configMap.name}" not found`);
      } else if (s.secret) {
        const data = await api.secretBytes(s.secret.name);
        if (data) writeKeys(dir, data, s.secret.items, mode, `secret ${s.secret.name}`, s.secret.optional);
        else if (!s.secret.optional) throw new Error(`secret "${s.secret.name}" not found`);
      } else if (s.downwardAPI) {
        writeDownward(dir, pod, s.downwardAPI.items, mode);
      }
    }
    return dir;
  }
  throw new Error(
    `volume ${v.name}: unsupported volume type (supported: emptyDir, configMap, secret, downwardAPI, projected, persistentVolumeClaim, hostPath)`,
  );
}

/** The bind mounts of one container: its volumeMounts resolved against the materialised volumes. */
export function containerMounts(c: Container, volumes: Map<string, string>, pod: Pod): BindMount[] {
  return (c.volumeMounts ?? []).map((m) => {
    const root = volumes.get(m.name);
    if (!root) throw new Error(`container ${c.name}: volumeMount ${m.name} names no volume`);
    let source = root;
    if (m.subPath) {
      source = safeJoin(root, m.subPath);
      if (!existsSync(source)) mkdirSync(source, { recursive: true });
    }
    const claim = pod.spec.volumes?.find((v) => v.name === m.name)?.persistentVolumeClaim;
    return { source, target: m.mountPath, readOnly: Boolean(m.readOnly || claim?.readOnly) };
  });
}
