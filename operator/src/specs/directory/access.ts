// Who may do what: the publisher's ServiceAccount may get and update its one Lease and nothing
// else (the operator creates the Lease, so the publisher needs no create); readers and witnesses
// share a ServiceAccount without a token (they never call the API server).

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1Role, V1RoleBinding, V1ServiceAccount } from '@kubernetes/client-node';
import { directoryMeta, directoryNames, directoryNamespace } from './names.ts';

export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: V1ServiceAccount['metadata'];
  spec: Record<string, never>;
}

export function directoryServiceAccounts(kd: KeyDirectory): V1ServiceAccount[] {
  const names = directoryNames(kd);
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: directoryMeta(kd, names.publisher, 'service-account'),
      automountServiceAccountToken: true,
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: directoryMeta(kd, names.serviceAccount, 'service-account'),
      automountServiceAccountToken: false,
    },
  ];
}

export function publisherRole(kd: KeyDirectory): V1Role {
  const names = directoryNames(kd);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: directoryMeta(kd, names.publisher, 'service-account'),
    rules: [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: [names.publisher],
        verbs: ['get', 'update'],
      },
    ],
  };
}

export function publisherRoleBinding(kd: KeyDirectory): V1RoleBinding {
  const names = directoryNames(kd);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: directoryMeta(kd, names.publisher, 'service-account'),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.publisher },
    subjects: [{ kind: 'ServiceAccount', name: names.publisher, namespace: directoryNamespace(kd) }],
  };
}

/** The writer Lease, created once with no holder; from then on only the publishers write it. */
export function publisherLease(kd: KeyDirectory): LeaseObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: directoryMeta(kd, directoryNames(kd).publisher, 'publisher'),
    spec: {},
  };
}
