// The directory's processes (directory-node, one binary in three modes):
//  - publisher: a Deployment of two, the writer and a standby; the Lease <kd>-publisher elects the
//    writer (directory-node/src/publisher/lease-lock.ts) and only the writer is Ready, so the
//    publisher Service reaches the writer alone. No liveness probe: the standby does not serve
//    HTTP until it becomes the writer.
//  - reader: a Deployment of spec.readers serving lookups, histories and audit blobs.
//  - witness i: a StatefulSet of one pod with its own key Secret and state volume; it follows the
//    read API, verifies every audit proof and countersigns each epoch (and fleet attestations).
// Every pod runs as a non-root user with a read-only root file system and no capabilities.

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Probe,
  V1StatefulSet,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { parseDuration } from '../../duration.ts';
import { containerSecurityContext, podSecurityContext } from '../member-pod.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from '../options.ts';
import { DirectoryKeyFile, PublicKeysKey } from './keys.ts';
import {
  componentSelector,
  type DirectoryComponent,
  directoryId,
  directoryLabels,
  directoryMeta,
  directoryNames,
  directoryNamespace,
  SERVES_READS_LABEL,
  WITNESS_LABEL,
} from './names.ts';
import { StoragePath, storageEnv, storageVolumes } from './storage.ts';

export const DIRECTORY_PORT = 8080;
export const DIRECTORY_CONTAINER = 'directory';
export const PUBLISHER_REPLICAS = 2;
const WITNESS_STATE_SIZE = '256Mi';

const KeyPath = {
  vrf: '/etc/keyfleet/vrf',
  signing: '/etc/keyfleet/signing',
  witness: '/etc/keyfleet/witness',
  publicKeys: '/etc/keyfleet/public',
  attestationSigners: '/etc/keyfleet/attestation-signers',
  witnessState: '/var/lib/keyfleet/witness',
} as const;

const value = (name: string, v: string): V1EnvVar => ({ name, value: v });
const field = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { fieldPath } },
});

function probe(path: string, periodSeconds: number, failureThreshold: number): V1Probe {
  return {
    httpGet: { path, port: 'http', scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
    successThreshold: 1,
  };
}

function container(
  kd: KeyDirectory,
  mode: 'publisher' | 'reader' | 'witness',
  env: V1EnvVar[],
  mounts: V1VolumeMount[],
): V1Container {
  return {
    name: DIRECTORY_CONTAINER,
    image: kd.spec.image,
    imagePullPolicy: kd.spec.imagePullPolicy,
    args: ['--mode', mode],
    env: [
      value('KEYFLEET_NAMESPACE', directoryId(kd)),
      value('KEYFLEET_LISTEN', `0.0.0.0:${DIRECTORY_PORT}`),
      field('POD_NAME', 'metadata.name'),
      field('POD_NAMESPACE', 'metadata.namespace'),
      ...env,
    ],
    ports: [{ name: 'http', containerPort: DIRECTORY_PORT, protocol: 'TCP' }],
    readinessProbe: probe('/readyz', 2, 2),
    ...(mode === 'publisher' ? {} : { livenessProbe: probe('/healthz', 10, 3) }),
    volumeMounts: [...mounts, { name: 'tmp', mountPath: StoragePath.tmp }],
    securityContext: containerSecurityContext,
  };
}

function podTemplate(
  kd: KeyDirectory,
  component: DirectoryComponent,
  c: V1Container,
  volumes: V1Volume[],
  serviceAccount: { name: string; token: boolean },
  extraLabels: Record<string, string> = {},
): V1PodTemplateSpec {
  const spec: V1PodSpec = {
    serviceAccountName: serviceAccount.name,
    automountServiceAccountToken: serviceAccount.token,
    securityContext: podSecurityContext,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 30,
    containers: [c],
    volumes: [...volumes, { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
  };
  return { metadata: { labels: { ...directoryLabels(kd, component), ...extraLabels } }, spec };
}

const secretVolume = (name: string, secretName: string, items: string[]): V1Volume => ({
  name,
  secret: { secretName, defaultMode: 0o400, items: items.map((k) => ({ key: k, path: k })) },
});

function publicKeysVolume(kd: KeyDirectory): V1Volume {
  return { name: 'public-keys', configMap: { name: directoryNames(kd).publicKeys, defaultMode: 0o444 } };
}

function epochIntervalMs(kd: KeyDirectory): number {
  return parseDuration(kd.spec.epochInterval);
}

/** A Deployment of pods behind the read API (the writer and its standby, or the readers). */
function readApiDeployment(
  kd: KeyDirectory,
  mode: 'publisher' | 'reader',
  o: {
    name: string;
    replicas: number;
    rollingUpdate: { maxSurge: number; maxUnavailable: number };
    pod: {
      env: V1EnvVar[];
      mounts: V1VolumeMount[];
      volumes: V1Volume[];
      serviceAccount: { name: string; token: boolean };
    };
  },
): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: directoryMeta(kd, o.name, mode),
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: componentSelector(kd, mode) },
      strategy: { type: 'RollingUpdate', rollingUpdate: o.rollingUpdate },
      template: podTemplate(
        kd,
        mode,
        container(kd, mode, o.pod.env, o.pod.mounts),
        o.pod.volumes,
        o.pod.serviceAccount,
        { [SERVES_READS_LABEL]: 'true' },
      ),
    },
  };
}

export function publisherDeployment(kd: KeyDirectory): V1Deployment {
  const names = directoryNames(kd);
  const storage = storageVolumes(kd);
  const env = [
    ...storageEnv(kd),
    value('KEYFLEET_VRF_KEY_FILE', `${KeyPath.vrf}/${DirectoryKeyFile.vrfSecret}`),
    value('KEYFLEET_SIGNING_KEY_FILE', `${KeyPath.signing}/${DirectoryKeyFile.signingSecret}`),
    value('KEYFLEET_EPOCH_INTERVAL_MS', String(epochIntervalMs(kd))),
    value('KEYFLEET_MAX_BATCH_SIZE', String(kd.spec.maxBatchSize)),
    value('KEYFLEET_WRITER_LEASE', names.publisher),
  ];
  const mounts = [
    ...storage.mounts,
    { name: 'vrf-key', mountPath: KeyPath.vrf, readOnly: true },
    { name: 'signing-key', mountPath: KeyPath.signing, readOnly: true },
  ];
  const volumes = [
    ...storage.volumes,
    secretVolume('vrf-key', names.vrfKey, [DirectoryKeyFile.vrfSecret]),
    secretVolume('signing-key', names.signingKey, [DirectoryKeyFile.signingSecret]),
  ];
  return readApiDeployment(kd, 'publisher', {
    name: names.publisher,
    replicas: PUBLISHER_REPLICAS,
    // One pod at a time, never a third: the Lease hands the writer role over.
    rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
    pod: { env, mounts, volumes, serviceAccount: { name: names.publisher, token: true } },
  });
}

export function readerDeployment(kd: KeyDirectory): V1Deployment {
  const names = directoryNames(kd);
  const storage = storageVolumes(kd);
  const env = [
    ...storageEnv(kd),
    value('KEYFLEET_VRF_KEY_FILE', `${KeyPath.vrf}/${DirectoryKeyFile.vrfSecret}`),
    value('KEYFLEET_SIGNING_PUBLIC_KEY_FILE', `${KeyPath.publicKeys}/${PublicKeysKey.signing}`),
  ];
  const mounts = [
    ...storage.mounts,
    { name: 'vrf-key', mountPath: KeyPath.vrf, readOnly: true },
    { name: 'public-keys', mountPath: KeyPath.publicKeys, readOnly: true },
  ];
  const volumes = [
    ...storage.volumes,
    secretVolume('vrf-key', names.vrfKey, [DirectoryKeyFile.vrfSecret]),
    publicKeysVolume(kd),
  ];
  return readApiDeployment(kd, 'reader', {
    name: names.reader,
    replicas: kd.spec.readers,
    rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    pod: { env, mounts, volumes, serviceAccount: { name: names.serviceAccount, token: false } },
  });
}

/** The read API inside the cluster: what witnesses follow. */
export function readApiUrl(kd: KeyDirectory, options: SpecOptions = DEFAULT_SPEC_OPTIONS): string {
  return `http://${directoryNames(kd).readService}.${directoryNamespace(kd)}.svc.${options.clusterDomain}:${DIRECTORY_PORT}`;
}

export function witnessStatefulSet(
  kd: KeyDirectory,
  ordinal: number,
  options: SpecOptions = DEFAULT_SPEC_OPTIONS,
): V1StatefulSet {
  const names = directoryNames(kd);
  const ordinalLabel = { [WITNESS_LABEL]: String(ordinal) };
  const env = [
    value('KEYFLEET_DIRECTORY_URL', readApiUrl(kd, options)),
    value('KEYFLEET_PUBLISHER_PUBLIC_KEY_FILE', `${KeyPath.publicKeys}/${PublicKeysKey.signing}`),
    value('KEYFLEET_WITNESS_KEY_FILE', `${KeyPath.witness}/${DirectoryKeyFile.witnessSecret}`),
    value('KEYFLEET_STATE_DIR', KeyPath.witnessState),
    value('KEYFLEET_ATTESTATION_SIGNERS_DIR', KeyPath.attestationSigners),
  ];
  const mounts = [
    { name: 'state', mountPath: KeyPath.witnessState },
    { name: 'witness-key', mountPath: KeyPath.witness, readOnly: true },
    { name: 'public-keys', mountPath: KeyPath.publicKeys, readOnly: true },
    { name: 'attestation-signers', mountPath: KeyPath.attestationSigners, readOnly: true },
  ];
  const volumes: V1Volume[] = [
    secretVolume('witness-key', names.witnessKey(ordinal), [DirectoryKeyFile.witnessSecret]),
    publicKeysVolume(kd),
    // Optional: the ConfigMap appears once a fleet logs into this directory.
    {
      name: 'attestation-signers',
      configMap: { name: names.attestationSigners, optional: true, defaultMode: 0o444 },
    },
  ];
  const storageClassName = kd.spec.storage.storageClassName;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: directoryMeta(kd, names.witness(ordinal), 'witness', ordinalLabel),
    spec: {
      replicas: 1,
      serviceName: names.witnessService,
      selector: { matchLabels: { ...componentSelector(kd, 'witness'), ...ordinalLabel } },
      podManagementPolicy: 'Parallel',
      // A witness removed with its StatefulSet takes its state with it; its key Secret stays.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' },
      template: podTemplate(
        kd,
        'witness',
        container(kd, 'witness', env, mounts),
        volumes,
        { name: names.serviceAccount, token: false },
        ordinalLabel,
      ),
      volumeClaimTemplates: [
        {
          metadata: { name: 'state', labels: { ...directoryLabels(kd, 'storage'), ...ordinalLabel } },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: WITNESS_STATE_SIZE } },
            ...(storageClassName === undefined ? {} : { storageClassName }),
          },
        },
      ],
    },
  };
}
