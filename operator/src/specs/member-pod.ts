// The Pod of one fleet member: one per zone, pinned to that zone, managed directly by the operator
// (no StatefulSet) so that the rollout decides which member restarts and when (rollout.ts).
// VAULT_CONTRACT.md says what the container must implement for this spec to work.

import { basename, dirname } from 'node:path';
import type { VaultFleet, VaultFleetSpec } from '@keyfleet/sdk/api/index';
import { ATTESTATION_BUNDLE_FILE } from '@keyfleet/sdk/vault/contract';
import type {
  V1Container,
  V1EnvVar,
  V1Pod,
  V1PodSecurityContext,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { memberConfigHash } from './config-hash.ts';
import { Annotation, fleetName, fleetNamespace, memberLabels, ownedMeta } from './labels.ts';
import {
  attestationConfigMapName,
  fleetId,
  memberClaimName,
  memberName,
  peerServiceName,
  sealingKeySecretName,
  serviceAccountName,
  trustBundleName,
} from './names.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from './options.ts';
import {
  type ClusterState,
  DataKey,
  Env,
  HttpPath,
  MEMBER_PLACEHOLDER,
  MountPath,
  Port,
  PortName,
  VAULT_GID,
  VAULT_UID,
} from './vault-contract.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const CONTAINER_NAME = 'vault';

/** Seconds the kubelet keeps for SIGTERM handling after preStop returns. */
const SHUTDOWN_MARGIN_SECONDS = 10;

const Volume = {
  data: 'data',
  sealingKey: 'sealing-key',
  trust: 'trust',
  attestation: 'attestation',
  tmp: 'tmp',
} as const;

/** The data key of the fleet's validation bundle in ConfigMap `<fleet>-attestation`, and its mount. */
export const ATTESTATION_BUNDLE_KEY = basename(ATTESTATION_BUNDLE_FILE);
const ATTESTATION_MOUNT = dirname(ATTESTATION_BUNDLE_FILE);

export interface MemberPodInput {
  readonly zone: string;
  /** `new` only while the fleet forms for the first time; see ClusterState. */
  readonly clusterState: ClusterState;
  readonly options?: SpecOptions;
}

/**
 * Base URL of any member, with MEMBER_PLACEHOLDER for its id. A template rather than a list, so a
 * member finds peers added after it started (scaling never restarts members).
 */
export function peerUrlTemplate(fleet: VaultFleet, clusterDomain: string): string {
  return `http://${memberHost(fleet, MEMBER_PLACEHOLDER, clusterDomain)}:${Port.peer}`;
}

/** DNS name of a member under the headless peer Service (it resolves for every port). */
function memberHost(fleet: VaultFleet, memberId: string, clusterDomain: string): string {
  return `${memberId}.${peerServiceName(fleetName(fleet))}.${fleetNamespace(fleet)}.svc.${clusterDomain}`;
}

export function peerUrl(fleet: VaultFleet, zone: string, clusterDomain: string): string {
  return `http://${memberHost(fleet, memberName(fleetName(fleet), zone), clusterDomain)}:${Port.peer}`;
}

/** Where the operator sends its signed admin calls to a member. */
export function adminUrl(fleet: VaultFleet, zone: string, clusterDomain: string): string {
  return `http://${memberHost(fleet, memberName(fleetName(fleet), zone), clusterDomain)}:${Port.admin}`;
}

function quantities(q: Record<string, number | string> | undefined): Record<string, string> | undefined {
  if (q === undefined) return undefined;
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)]));
}

function resources(spec: VaultFleetSpec): V1ResourceRequirements {
  const r: V1ResourceRequirements = {};
  const requests = quantities(spec.resources?.requests);
  const limits = quantities(spec.resources?.limits);
  if (requests !== undefined) r.requests = requests;
  if (limits !== undefined) r.limits = limits;
  return r;
}

function env(fleet: VaultFleet, input: MemberPodInput, options: SpecOptions): V1EnvVar[] {
  const name = fleetName(fleet);
  const vars: Array<[string, string]> = [
    [Env.fleetId, fleetId(fleetNamespace(fleet), name)],
    [Env.memberId, memberName(name, input.zone)],
    [Env.zone, input.zone],
    [Env.clusterState, input.clusterState],
    [Env.initialMembers, fleet.spec.zones.map((z) => memberName(name, z)).join(',')],
    [Env.peerUrlTemplate, peerUrlTemplate(fleet, options.clusterDomain)],
    [Env.dataDir, MountPath.data],
    [Env.sealingKeyFile, `${MountPath.sealingKey}/${DataKey.sealingKey}`],
    [Env.manufacturerCaFile, `${MountPath.trust}/${DataKey.manufacturerCaPublicKey}`],
    [Env.operatorAdminKeyFile, `${MountPath.trust}/${DataKey.operatorAdminPublicKey}`],
    [Env.guessLimit, String(fleet.spec.guessLimit)],
    [Env.attestationBundleFile, ATTESTATION_BUNDLE_FILE],
    [Env.clientPort, String(Port.client)],
    [Env.peerPort, String(Port.peer)],
    [Env.adminPort, String(Port.admin)],
    [Env.metricsPort, String(Port.metrics)],
    [Env.tmpDir, MountPath.tmp],
  ];
  return vars.map(([n, value]) => ({ name: n, value }));
}

function httpProbe(path: string, periodSeconds: number, failureThreshold: number): V1Probe {
  return {
    httpGet: { path, port: PortName.admin, scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
    successThreshold: 1,
  };
}

export const containerSecurityContext: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: VAULT_UID,
  runAsGroup: VAULT_GID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

// fsGroup makes the volumes readable by the vault's group. For Secret volumes the kubelet also adds
// group read to defaultMode, so the sealing key file ends up 0440 root:65532 (kubernetes#57923):
// readable by the vault process and by nothing else in the pod but root, which nothing runs as.
export const podSecurityContext: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: VAULT_UID,
  runAsGroup: VAULT_GID,
  fsGroup: VAULT_GID,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
};

function volumes(fleet: VaultFleet, zone: string): V1Volume[] {
  const name = fleetName(fleet);
  return [
    { name: Volume.data, persistentVolumeClaim: { claimName: memberClaimName(name, zone) } },
    {
      name: Volume.sealingKey,
      secret: {
        secretName: sealingKeySecretName(name, zone),
        defaultMode: 0o400,
        items: [{ key: DataKey.sealingKey, path: DataKey.sealingKey }],
      },
    },
    {
      name: Volume.trust,
      configMap: {
        name: trustBundleName(name),
        defaultMode: 0o444,
        items: [
          { key: DataKey.manufacturerCaPublicKey, path: DataKey.manufacturerCaPublicKey },
          { key: DataKey.operatorAdminPublicKey, path: DataKey.operatorAdminPublicKey },
        ],
      },
    },
    // The published validation bundle, served to clients at GET /v1/attestation. Optional: the
    // ConfigMap appears only once the first attestation is published, and a member starts before.
    // Only the bundle is projected, not the operator's record of an attestation in progress.
    {
      name: Volume.attestation,
      configMap: {
        name: attestationConfigMapName(name),
        optional: true,
        defaultMode: 0o444,
        items: [{ key: ATTESTATION_BUNDLE_KEY, path: ATTESTATION_BUNDLE_KEY }],
      },
    },
    // In memory, so nothing a request leaves in a temporary file reaches a disk.
    { name: Volume.tmp, emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } },
  ];
}

const volumeMounts: V1VolumeMount[] = [
  { name: Volume.data, mountPath: MountPath.data },
  { name: Volume.sealingKey, mountPath: MountPath.sealingKey, readOnly: true },
  { name: Volume.trust, mountPath: MountPath.trust, readOnly: true },
  { name: Volume.attestation, mountPath: ATTESTATION_MOUNT, readOnly: true },
  { name: Volume.tmp, mountPath: MountPath.tmp },
];

function container(fleet: VaultFleet, input: MemberPodInput, options: SpecOptions): V1Container {
  // preStop may block until the other members hold quorum without this one (VAULT_CONTRACT.md);
  // the vault gives up a little before the kubelet would kill it, so it can still shut down cleanly.
  const prepareStopTimeout = Math.max(1, options.terminationGracePeriodSeconds - SHUTDOWN_MARGIN_SECONDS);
  return {
    name: CONTAINER_NAME,
    image: fleet.spec.image,
    imagePullPolicy: fleet.spec.imagePullPolicy,
    env: env(fleet, input, options),
    ports: [
      { name: PortName.client, containerPort: Port.client, protocol: 'TCP' },
      { name: PortName.peer, containerPort: Port.peer, protocol: 'TCP' },
      { name: PortName.admin, containerPort: Port.admin, protocol: 'TCP' },
      { name: PortName.metrics, containerPort: Port.metrics, protocol: 'TCP' },
    ],
    resources: resources(fleet.spec),
    // Opening the log and replaying it may take a while on a big volume; two minutes before
    // liveness takes over.
    startupProbe: httpProbe(HttpPath.healthz, 2, 60),
    livenessProbe: httpProbe(HttpPath.healthz, 10, 3),
    readinessProbe: httpProbe(HttpPath.readyz, 5, 2),
    lifecycle: {
      preStop: {
        httpGet: {
          path: `${HttpPath.prepareStop}?timeoutSeconds=${prepareStopTimeout}`,
          port: PortName.admin,
          scheme: 'HTTP',
        },
      },
    },
    securityContext: containerSecurityContext,
    volumeMounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The member Pod of `input.zone`. */
export function memberPod(fleet: VaultFleet, input: MemberPodInput): V1Pod {
  const options = input.options ?? DEFAULT_SPEC_OPTIONS;
  const name = fleetName(fleet);
  const podName = memberName(name, input.zone);
  const meta = ownedMeta(fleet, podName, memberLabels(fleet, 'member', input.zone));
  meta.annotations = {
    [Annotation.configHash]: memberConfigHash(fleet.spec),
    'kubectl.kubernetes.io/default-container': CONTAINER_NAME,
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta,
    spec: {
      // hostname + subdomain give the pod its DNS record <pod>.<fleet>-peers.<ns>.svc.<domain>.
      hostname: podName,
      subdomain: peerServiceName(name),
      serviceAccountName: serviceAccountName(name),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: options.terminationGracePeriodSeconds,
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: [input.zone] }] },
            ],
          },
        },
      },
      securityContext: podSecurityContext,
      containers: [container(fleet, input, options)],
      volumes: volumes(fleet, input.zone),
    },
  };
}
