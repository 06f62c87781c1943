// Kubeconfig files with the certificates embedded, so kubectl, helm and @kubernetes/client-node
// read them from anywhere.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiserverUrl, paths } from './config.ts';
import { type CertFiles, pki } from './pki.ts';

const b64 = (file: string) => readFileSync(file).toString('base64');

export function kubeconfigYaml(user: string, creds: CertFiles, server = apiserverUrl): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: keyfleet-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.ca.cert)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(creds.cert)}`,
    `    client-key-data: ${b64(creds.key)}`,
    'contexts:',
    '- name: keyfleet-test',
    '  context:',
    '    cluster: keyfleet-test',
    `    user: ${user}`,
    'current-context: keyfleet-test',
    '',
  ].join('\n');
}

/** Writes the admin kubeconfig (paths.kubeconfig) and one per component; returns the component paths. */
export function writeKubeconfigs(): Record<string, string> {
  writeFileSync(paths.kubeconfig, kubeconfigYaml('keyfleet-admin', pki.cert('admin')), { mode: 0o600 });
  const out: Record<string, string> = {};
  for (const name of ['controllerManager', 'scheduler', 'proxy', 'agent', 'coredns']) {
    const file = join(paths.pki, `${name}.kubeconfig`);
    writeFileSync(file, kubeconfigYaml(name, pki.cert(name)), { mode: 0o600 });
    out[name] = file;
  }
  return out;
}

export function componentKubeconfig(name: string): string {
  return join(paths.pki, `${name}.kubeconfig`);
}
