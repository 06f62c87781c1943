// Runs the pinned helm binary (built by test/cluster/build.sh) on charts/keyfleet. The binary is
// located by the cluster tier's own locator (versions.env + cache directory), never a PATH lookup,
// so these tests and the cluster tier use the same helm.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { binPath, componentVersion } from '../cluster/src/versions.ts';

export const chartDir = new URL('../../charts/keyfleet/', import.meta.url).pathname;

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The helm binary's path; throws (a test failure, not a skip) with how to build it when absent. */
export function helmBinary(): string {
  const path = binPath('helm');
  if (!existsSync(path)) {
    throw new Error(
      `helm ${componentVersion('helm')} is not built (${path} is missing): run test/cluster/build.sh helm`,
    );
  }
  return path;
}

export function runHelm(args: string[]): HelmResult {
  const run = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
    // No repositories, plugins or registry logins of the person running the tests.
    env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), HELM_CACHE_HOME: tmpdir() },
  });
  if (run.error) throw run.error;
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

/** Writes `values` to a temporary values file for the duration of `fn`. */
function withValuesFile<T>(values: object, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'keyfleet-chart-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, JSON.stringify(values));
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const releaseName = 'kf';
export const releaseNamespace = 'keyfleet-system';

/**
 * `helm template` of the chart with `values`. The Kubernetes version is the cluster tier's: a helm
 * built with `go install` otherwise assumes v1.20, which the chart's kubeVersion refuses.
 */
export function templateChart(values: object, extraArgs: string[] = [], release = releaseName): HelmResult {
  return withValuesFile(values, (file) =>
    runHelm([
      'template',
      release,
      chartDir,
      '--namespace',
      releaseNamespace,
      '--kube-version',
      componentVersion('kubectl'),
      '--values',
      file,
      ...extraArgs,
    ]),
  );
}

/** Renders and parses; throws with helm's message when rendering fails. */
export function renderChart(values: object, extraArgs: string[] = [], release = releaseName): K8sObject[] {
  const result = templateChart(values, extraArgs, release);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export function lintChart(values: object, strict: boolean): HelmResult {
  return withValuesFile(values, (file) =>
    runHelm(['lint', chartDir, '--values', file, ...(strict ? ['--strict'] : [])]),
  );
}
