// Cluster objects the harness installs at `up`: the default StorageClass (local provisioner),
// RBAC for CoreDNS, and the kube-dns Service whose endpoint is CoreDNS on the control-plane address.

import { storageClass } from './agent/provisioner.ts';
import { net } from './config.ts';
import type { Kube } from './kube.ts';

export async function installAddons(kube: Kube): Promise<void> {
  await kube.apply('/apis/storage.k8s.io/v1/storageclasses/standard', storageClass());
  await kube.apply('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:coredns', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'system:coredns' },
    rules: [
      {
        apiGroups: [''],
        resources: ['endpoints', 'services', 'pods', 'namespaces'],
        verbs: ['list', 'watch'],
      },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  });
  await kube.apply('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:coredns', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'system:coredns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:coredns' }],
  });
  await kube.apply('/api/v1/namespaces/kube-system/services/kube-dns', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: {
      clusterIP: net.dnsServiceIp,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  });
  // No selector: CoreDNS is a host process, so the endpoint is written here, not by a controller.
  await kube.apply('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-coredns', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kube-dns-coredns',
      namespace: 'kube-system',
      labels: {
        'kubernetes.io/service-name': 'kube-dns',
        'endpointslice.kubernetes.io/managed-by': 'keyfleet-harness',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [net.controlPlaneIp], conditions: { ready: true } }],
    ports: [
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    ],
  });
}
