// Where a directory keeps its data: the claims, and the env/volumes that point the publisher and
// the readers at them.
//
// Embedded storage (the default) is one SQLite database on the ReadWriteOnce claim <kd>-data;
// filesystem audit storage is the claim <kd>-audit. The writer, the standby and the readers all
// mount those claims, so a ReadWriteOnce volume places them on one node: SQLite's locking is only
// sound between processes of one host. A directory that must survive the loss of that node uses
// storage.type postgres (any node) and auditStorage.s3.

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1EnvVar, V1PersistentVolumeClaim, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { directoryMeta, directoryNames } from './names.ts';

export const StoragePath = {
  data: '/var/lib/keyfleet/directory',
  audit: '/var/lib/keyfleet/audit',
  /** scratch space (also the data dir of a PostgreSQL-backed process, which keeps nothing there) */
  tmp: '/tmp',
} as const;

/** Keys the operator reads from the Secrets a user names in the spec. */
export const UserSecretKey = {
  postgresUrl: 'url',
  s3AccessKeyId: 'accessKeyId',
  s3SecretAccessKey: 'secretAccessKey',
} as const;

function claim(
  kd: KeyDirectory,
  name: string,
  size: string,
  storageClassName: string | undefined,
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: directoryMeta(kd, name, 'storage'),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(storageClassName === undefined ? {} : { storageClassName }),
    },
  };
}

export function directoryClaims(kd: KeyDirectory): V1PersistentVolumeClaim[] {
  const names = directoryNames(kd);
  const claims: V1PersistentVolumeClaim[] = [];
  if (kd.spec.storage.type === 'embedded') {
    claims.push(claim(kd, names.dataClaim, kd.spec.storage.size, kd.spec.storage.storageClassName));
  }
  const fs = kd.spec.auditStorage.filesystem;
  if (fs !== undefined)
    claims.push(
      claim(kd, names.auditClaim, fs.size, fs.storageClassName ?? kd.spec.storage.storageClassName),
    );
  return claims;
}

const secretEnv = (name: string, secret: string, key: string): V1EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

/** Env of a process that opens the directory database and audit storage (publisher, reader). */
export function storageEnv(kd: KeyDirectory): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  const pg = kd.spec.storage.postgres;
  if (kd.spec.storage.type === 'postgres' && pg !== undefined) {
    env.push({ name: 'KEYFLEET_DATA_DIR', value: `${StoragePath.tmp}/directory` });
    env.push(secretEnv('KEYFLEET_POSTGRES_URL', pg.secretRef.name, UserSecretKey.postgresUrl));
  } else {
    env.push({ name: 'KEYFLEET_DATA_DIR', value: StoragePath.data });
  }
  const s3 = kd.spec.auditStorage.s3;
  if (s3 !== undefined) {
    env.push({ name: 'KEYFLEET_AUDIT_S3_BUCKET', value: s3.bucket });
    if (s3.endpoint !== undefined) env.push({ name: 'KEYFLEET_AUDIT_S3_ENDPOINT', value: s3.endpoint });
    if (s3.region !== undefined) env.push({ name: 'KEYFLEET_AUDIT_S3_REGION', value: s3.region });
    if (s3.prefix !== undefined) env.push({ name: 'KEYFLEET_AUDIT_S3_PREFIX', value: s3.prefix });
    env.push(secretEnv('AWS_ACCESS_KEY_ID', s3.secretRef.name, UserSecretKey.s3AccessKeyId));
    env.push(secretEnv('AWS_SECRET_ACCESS_KEY', s3.secretRef.name, UserSecretKey.s3SecretAccessKey));
  } else {
    env.push({ name: 'KEYFLEET_AUDIT_DIR', value: StoragePath.audit });
  }
  return env;
}

export function storageVolumes(kd: KeyDirectory): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const names = directoryNames(kd);
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (kd.spec.storage.type === 'embedded') {
    volumes.push({ name: 'data', persistentVolumeClaim: { claimName: names.dataClaim } });
    mounts.push({ name: 'data', mountPath: StoragePath.data });
  }
  if (kd.spec.auditStorage.filesystem !== undefined) {
    volumes.push({ name: 'audit', persistentVolumeClaim: { claimName: names.auditClaim } });
    mounts.push({ name: 'audit', mountPath: StoragePath.audit });
  }
  return { volumes, mounts };
}
