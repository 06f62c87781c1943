// A local dynamic provisioner for StorageClass `standard` (like kind's local-path): a claim that
// the scheduler placed on a node (volume.kubernetes.io/selected-node) gets a `local`
// PersistentVolume pinned to that node, backed by .state/pv/<node>/<pv>/; released volumes whose
// reclaim policy is Delete are removed with their data.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../config.ts';
import type { Kube, Obj } from '../kube.ts';

export const provisionerName = 'keyfleet.test/local-path';

type Pvc = Obj & {
  spec: {
    storageClassName?: string;
    accessModes?: string[];
    resources?: { requests?: { storage?: string } };
    volumeName?: string;
    volumeMode?: string;
  };
  status?: { phase?: string };
};
type Pv = Obj & {
  spec: { local?: { path: string }; persistentVolumeReclaimPolicy?: string };
  status?: { phase?: string };
};

export function pvDir(node: string, pvName: string): string {
  return join(paths.volumes, node, pvName);
}

export async function provisionClaim(kube: Kube, pvc: Pvc, log: (m: string) => void): Promise<void> {
  const ann = pvc.metadata.annotations ?? {};
  const wanted =
    ann['volume.kubernetes.io/storage-provisioner'] ?? ann['volume.beta.kubernetes.io/storage-provisioner'];
  const node = ann['volume.kubernetes.io/selected-node'];
  if (
    wanted !== provisionerName ||
    !node ||
    pvc.spec.volumeName ||
    pvc.status?.phase !== 'Pending' ||
    pvc.metadata.deletionTimestamp
  )
    return;
  const name = `pvc-${pvc.metadata.uid}`;
  const sc = await kube.getOrUndefined<Obj & { reclaimPolicy?: string }>(
    `/apis/storage.k8s.io/v1/storageclasses/${pvc.spec.storageClassName}`,
  );
  const dir = pvDir(node, name);
  mkdirSync(dir, { recursive: true });
  const pv = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': provisionerName } },
    spec: {
      capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: sc?.reclaimPolicy ?? 'Delete',
      storageClassName: pvc.spec.storageClassName,
      volumeMode: pvc.spec.volumeMode ?? 'Filesystem',
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: pvc.metadata.namespace,
        name: pvc.metadata.name,
        uid: pvc.metadata.uid,
      },
      local: { path: dir },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    },
  };
  try {
    await kube.create('/api/v1/persistentvolumes', pv);
    log(`provisioned ${name} for ${pvc.metadata.namespace}/${pvc.metadata.name} on ${node}`);
  } catch (e) {
    if (!/already exists/.test((e as Error).message)) throw e;
  }
}

export async function reclaimVolume(kube: Kube, pv: Pv, log: (m: string) => void): Promise<void> {
  if (pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] !== provisionerName) return;
  if (pv.status?.phase !== 'Released' || pv.spec.persistentVolumeReclaimPolicy !== 'Delete') return;
  const path = pv.spec.local?.path;
  if (path?.startsWith(`${paths.volumes}/`)) rmSync(path, { recursive: true, force: true });
  await kube.delete(`/api/v1/persistentvolumes/${pv.metadata.name}`);
  log(`deleted released volume ${pv.metadata.name}`);
}

export function storageClass(): Record<string, unknown> {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: provisionerName,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  };
}
