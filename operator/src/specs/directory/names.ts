// Names, labels and owner references of everything a KeyDirectory owns (see ../names.ts for the
// naming rule: DNS labels of at most 63 characters, shortened with a hash when they would not fit).
//
//   <kd>                      Service: the read API (the writer and the readers)
//   <kd>-publisher            Deployment (writer + standby), Lease, ServiceAccount, Role,
//                             RoleBinding, Service (the writer only: POST /v1/changes)
//   <kd>-reader               Deployment (spec.readers)
//   <kd>-witness-<i>          StatefulSet of one witness pod (<kd>-witness-<i>-0), its key Secret
//                             <kd>-witness-<i>-key
//   <kd>-witness              headless Service of the witnesses
//   <kd>-vrf-key, <kd>-signing-key   the directory's key Secrets
//   <kd>-public-keys          ConfigMap with every public key (for people and pods)
//   <kd>-attestation-signers  ConfigMap the VaultFleet controller fills (fleets' attestation keys)
//   <kd>-data, <kd>-audit     PersistentVolumeClaims (embedded database; filesystem audit storage)
//   <kd>-directory            ServiceAccount of readers and witnesses (no API access)

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { Label, MANAGED_BY, PART_OF } from '../labels.ts';
import { boundedName, labelValue } from '../names.ts';

export const DIRECTORY_APP_NAME = 'directory-node';
/** StatefulSet names must leave room for the controller-revision-hash label value. */
const MAX_STATEFULSET_NAME = 52;

export type DirectoryComponent =
  | 'publisher'
  | 'reader'
  | 'witness'
  | 'read-api'
  | 'keys'
  | 'public-keys'
  | 'attestation-signers'
  | 'storage'
  | 'service-account';

/** Marks the pods behind the read API Service: the writer and the readers. */
export const SERVES_READS_LABEL = 'keyfleet.dev/serves-reads';
/** The witness ordinal on a witness's StatefulSet, pod and key Secret. */
export const WITNESS_LABEL = 'keyfleet.dev/witness';

export function directoryName(kd: KeyDirectory): string {
  const name = kd.metadata.name;
  if (name === undefined || name === '') throw new Error('KeyDirectory has no metadata.name');
  return name;
}

export function directoryNamespace(kd: KeyDirectory): string {
  const ns = kd.metadata.namespace;
  if (ns === undefined || ns === '')
    throw new Error(`KeyDirectory ${directoryName(kd)} has no metadata.namespace`);
  return ns;
}

/** The namespace string signed into epoch heads and countersignatures: `<namespace>/<name>`. */
export function directoryId(kd: KeyDirectory): string {
  return `${directoryNamespace(kd)}/${directoryName(kd)}`;
}

export const directoryNames = (kd: KeyDirectory) => {
  const n = directoryName(kd);
  return {
    readService: boundedName(n, ''),
    publisher: boundedName(n, 'publisher'),
    reader: boundedName(n, 'reader'),
    witness: (i: number) => boundedName(n, `witness-${i}`, MAX_STATEFULSET_NAME),
    witnessPod: (i: number) => `${boundedName(n, `witness-${i}`, MAX_STATEFULSET_NAME)}-0`,
    witnessKey: (i: number) => boundedName(n, `witness-${i}-key`),
    witnessService: boundedName(n, 'witness'),
    vrfKey: boundedName(n, 'vrf-key'),
    signingKey: boundedName(n, 'signing-key'),
    publicKeys: boundedName(n, 'public-keys'),
    attestationSigners: boundedName(n, 'attestation-signers'),
    dataClaim: boundedName(n, 'data'),
    auditClaim: boundedName(n, 'audit'),
    serviceAccount: boundedName(n, 'directory'),
  };
};

export function directoryLabels(kd: KeyDirectory, component: DirectoryComponent): Record<string, string> {
  return {
    [Label.name]: DIRECTORY_APP_NAME,
    [Label.instance]: labelValue(directoryName(kd)),
    [Label.component]: component,
    [Label.partOf]: PART_OF,
    [Label.managedBy]: MANAGED_BY,
  };
}

/** Selects the directory's pods of one component. */
export function componentSelector(kd: KeyDirectory, component: DirectoryComponent): Record<string, string> {
  return {
    [Label.name]: DIRECTORY_APP_NAME,
    [Label.instance]: labelValue(directoryName(kd)),
    [Label.component]: component,
  };
}

export function directoryOwnerReference(kd: KeyDirectory): V1OwnerReference {
  const uid = kd.metadata.uid;
  if (uid === undefined || uid === '') {
    throw new Error(
      `KeyDirectory ${directoryName(kd)} has no metadata.uid: owner references need the stored object`,
    );
  }
  return {
    apiVersion: kd.apiVersion,
    kind: kd.kind,
    name: directoryName(kd),
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of an object the directory controls (deleted with it by the garbage collector). */
export function directoryMeta(
  kd: KeyDirectory,
  name: string,
  component: DirectoryComponent,
  extraLabels: Record<string, string> = {},
): V1ObjectMeta {
  return {
    name,
    namespace: directoryNamespace(kd),
    labels: { ...directoryLabels(kd, component), ...extraLabels },
    ownerReferences: [directoryOwnerReference(kd)],
  };
}
