// The control plane came up from nothing (global setup): real binaries at the pinned versions,
// seven Ready zone nodes with heartbeats, and a kubeconfig that kubectl, helm and
// @kubernetes/client-node all use.

import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, test } from 'vitest';
import { nodes, paths } from '../src/config.ts';
import { pki } from '../src/pki.ts';
import { readVersions } from '../src/versions.ts';
import { helm, Kube, kubectl, type Obj, until } from './helpers.ts';

const versions = readVersions();
const kube = new Kube();
afterAll(() => kube.close());

describe('control plane', () => {
  test('kubectl reports the pinned client and server versions', async () => {
    const r = await kubectl('version', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.clientVersion.gitVersion).toBe(versions['K8S_VERSION']);
    expect(v.serverVersion.gitVersion).toBe(versions['K8S_VERSION']);
  });

  test('helm talks to the cluster with the same kubeconfig', async () => {
    const ver = await helm('version', '--short');
    expect(ver.stdout).toContain(versions['HELM_VERSION']);
    const list = await helm('list', '--all-namespaces', '-o', 'json');
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  test('@kubernetes/client-node loads the kubeconfig and lists the nodes', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(paths.kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    const list = await api.listNode();
    expect(list.items.map((n) => n.metadata?.name).sort()).toEqual(nodes.map((n) => n.name).sort());
  });

  test('TLS and RBAC are real: a client without a certificate is authenticated as nobody and refused', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '10.244.0.1',
          port: 6443,
          path: '/api/v1/namespaces',
          ca: readFileSync(pki.ca.cert),
          timeout: 5000,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect([401, 403]).toContain(status);
  });

  test('seven zone nodes are Ready, labelled dc1..dc7, with pod CIDRs and renewed leases', async () => {
    type Node = Obj & {
      spec: { podCIDR?: string };
      status: { conditions: { type: string; status: string }[] };
    };
    const list = await kube.list<Node>('/api/v1/nodes');
    const zonesSeen = list.items.map((n) => n.metadata.labels?.['topology.kubernetes.io/zone']).sort();
    expect(zonesSeen).toEqual(['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7']);
    for (const n of list.items) {
      expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.spec.podCIDR).toBe(nodes.find((x) => x.name === n.metadata.name)?.podCidr);
      expect(n.metadata.labels?.['kubernetes.io/hostname']).toBe(n.metadata.name);
    }
    type Lease = Obj & { spec: { renewTime: string } };
    const lease = (name: string) =>
      kube.get<Lease>(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`);
    const first = (await lease('kf-dc4')).spec.renewTime;
    await until('a lease renewal', async () => (await lease('kf-dc4')).spec.renewTime !== first, 20_000, 500);
  });

  test('the controller-manager runs: every namespace has its default service account and root CA', async () => {
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      expect(await kube.getOrUndefined(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).toBeDefined();
      expect(await kube.getOrUndefined(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`)).toBeDefined();
    }
  });
});
