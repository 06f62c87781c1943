// What the runtime needs to know about a kind to reach it over the REST API, and the object
// shape every kind shares. Paths are built here once so the client, the fake API server and the
// tests agree on them.

import type { ObjectMeta } from '@keyfleet/sdk/api/object-meta';

export type { ObjectMeta, OwnerReference } from '@keyfleet/sdk/api/object-meta';

/**
 * What every object has. No index signature, so the generated API interfaces (VaultFleet,
 * KeyDirectory) and client-node's models satisfy it; `Unstructured` is for reading any field.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** Any object the API serves, with the fields the runtime does not model. */
export type Unstructured = KubeObject & { [field: string]: unknown };

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A resource type as the API serves it: `/apis/<group>/<version>/[namespaces/<ns>/]<plural>`. */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function apiVersionOf(res: ResourceType): string {
  return res.group === '' ? res.version : `${res.group}/${res.version}`;
}

/** A short, bounded label value for metrics and logs, e.g. `leases.coordination.k8s.io`. */
export function resourceName(res: ResourceType): string {
  return res.group === '' ? res.plural : `${res.plural}.${res.group}`;
}

function groupPrefix(res: ResourceType): string {
  return res.group === '' ? `/api/${res.version}` : `/apis/${res.group}/${res.version}`;
}

const segment = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function checkSegment(what: string, value: string): string {
  if (!segment.test(value) || value.length > 253) {
    throw new Error(`${what} "${value}" is not a valid Kubernetes name (lower-case DNS subdomain)`);
  }
  return value;
}

/** The collection path; `namespace` undefined or '' on a namespaced kind means all namespaces. */
export function collectionPath(res: ResourceType, namespace?: string): string {
  if (res.namespaced && namespace) {
    return `${groupPrefix(res)}/namespaces/${checkSegment('namespace', namespace)}/${res.plural}`;
  }
  return `${groupPrefix(res)}/${res.plural}`;
}

export function objectPath(
  res: ResourceType,
  namespace: string | undefined,
  name: string,
  subresource?: 'status' | 'scale',
): string {
  if (res.namespaced && !namespace) {
    throw new Error(`${res.kind} ${name} is namespaced: a namespace is required`);
  }
  const path = `${collectionPath(res, res.namespaced ? namespace : undefined)}/${checkSegment('name', name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** The work-queue and cache key: `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`object of kind ${obj.kind ?? '?'} has no metadata.name`);
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The built-in kinds the runtime itself writes or commonly watches. */
export const builtin = {
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  persistentVolumeClaim: {
    group: '',
    version: 'v1',
    plural: 'persistentvolumeclaims',
    kind: 'PersistentVolumeClaim',
    namespaced: true,
  },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
} as const satisfies Record<string, ResourceType>;

/**
 * The resource type of an object a reconcile applies, by its kind, among the kinds that reconcile
 * manages; any other kind is a programming error, named with the reconcile it came from.
 */
export function kindLookup(
  types: readonly ResourceType[],
  reconcile: string,
): (kind: string | undefined) => ResourceType {
  const byKind = new Map(types.map((t) => [t.kind, t]));
  return (kind) => {
    const t = byKind.get(kind ?? '');
    if (t === undefined)
      throw new Error(`the ${reconcile} reconcile does not manage objects of kind ${kind}`);
    return t;
  };
}
