// Pinned versions (versions.env) and where build.sh caches each binary.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { paths } from './config.ts';

export type Component =
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kube-proxy'
  | 'etcd'
  | 'coredns'
  | 'helm';

export function readVersions(file = paths.versionsEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function componentVersion(c: Component, v = readVersions()): string {
  const key =
    c === 'etcd'
      ? 'ETCD_VERSION'
      : c === 'helm'
        ? 'HELM_VERSION'
        : c === 'coredns'
          ? 'COREDNS_VERSION'
          : 'K8S_VERSION';
  const ver = v[key];
  if (!ver) throw new Error(`${paths.versionsEnv} has no ${key}`);
  return ver;
}

export function binCache(): string {
  return (
    process.env['KEYFLEET_BIN_CACHE'] ??
    join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'keyfleet', 'bin')
  );
}

export function binPath(c: Component): string {
  return join(binCache(), `${c}-${componentVersion(c)}`, c);
}

export function missingBinaries(cs: Component[]): Component[] {
  return cs.filter((c) => !existsSync(binPath(c)));
}
