// A KeyDirectory as the API server would hand it to the operator (defaults applied), for tests.

import type { KeyDirectory, KeyDirectorySpec } from '@keyfleet/sdk/api/index';

export function testDirectory(
  spec: Partial<KeyDirectorySpec> = {},
  name = 'transparency',
  namespace = 'vaults',
): KeyDirectory {
  return {
    apiVersion: 'keyfleet.dev/v1alpha1',
    kind: 'KeyDirectory',
    metadata: { name, namespace, uid: '7a2d0c11-0000-4000-8000-000000000002', generation: 2 },
    spec: {
      image: 'ghcr.io/keyfleet/directory-node:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      epochInterval: '10s',
      maxBatchSize: 10000,
      readers: 2,
      witnesses: 1,
      storage: { type: 'embedded', size: '1Gi' },
      auditStorage: { filesystem: { size: '1Gi' } },
      paused: false,
      ...spec,
    },
  };
}
