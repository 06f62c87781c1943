// Server-side apply: every write the operator makes to an object it manages is a PATCH with
// `application/apply-patch+yaml` under one field manager, forced, so the operator owns the
// fields it sets and gives up the ones it stops setting. Status goes through the status
// subresource the same way. This file only builds requests; client.ts sends them.
import {
  apiVersionOf,
  type KubeObject,
  objectPath,
  type ResourceType,
  type Unstructured,
} from './resource.ts';
import type { ApiRequest } from './transport.ts';

export const fieldManager = 'keyfleet-operator';
export const applyPatchContentType = 'application/apply-patch+yaml';

export interface ApplyOptions {
  fieldManager?: string;
  /** Take over fields another manager owns; the operator's desired state wins (default true). */
  force?: boolean;
  /** Send metadata.resourceVersion as a precondition (default: it is removed). */
  keepResourceVersion?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
}

// Fields the server owns; an apply that carries them is refused (managedFields) or turns them
// into accidental preconditions (resourceVersion).
const serverOwnedMetadata = [
  'managedFields',
  'creationTimestamp',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

/** The object as it should be sent: identity filled and checked, server-owned fields removed. */
export function applyBody<T extends KubeObject>(res: ResourceType, obj: T, opts: ApplyOptions = {}): T {
  const apiVersion = apiVersionOf(res);
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
    throw new Error(`apply: object has apiVersion ${obj.apiVersion} but the resource is ${apiVersion}`);
  }
  if (obj.kind !== undefined && obj.kind !== res.kind) {
    throw new Error(`apply: object has kind ${obj.kind} but the resource is ${res.kind}`);
  }
  const metadata = { ...obj.metadata };
  if (!metadata.name) throw new Error(`apply: ${res.kind} needs metadata.name (apply cannot generate names)`);
  if (res.namespaced && !metadata.namespace) {
    throw new Error(`apply: ${res.kind} ${metadata.name} is namespaced: set metadata.namespace`);
  }
  if (!res.namespaced) delete metadata.namespace;
  for (const f of serverOwnedMetadata) delete metadata[f as keyof typeof metadata];
  if (!opts.keepResourceVersion) delete metadata.resourceVersion;
  return { ...obj, apiVersion, kind: res.kind, metadata };
}

function applyQuery(opts: ApplyOptions): Record<string, string | undefined> {
  return {
    fieldManager: opts.fieldManager ?? fieldManager,
    force: String(opts.force ?? true),
    dryRun: opts.dryRun ? 'All' : undefined,
  };
}

export function buildApplyRequest<T extends KubeObject>(
  res: ResourceType,
  obj: T,
  opts: ApplyOptions = {},
): ApiRequest {
  const body = applyBody(res, obj, opts);
  const { name, namespace } = body.metadata ?? {};
  return {
    method: 'PATCH',
    path: objectPath(res, namespace, name as string),
    query: applyQuery(opts),
    // JSON is YAML, and the API server parses it faster than YAML.
    body: JSON.stringify(body),
    contentType: applyPatchContentType,
    signal: opts.signal,
  };
}

/**
 * Applies only `status` through the status subresource. The body carries the object's identity
 * and its status, nothing else, so the status manager never claims spec or metadata fields.
 */
export function buildApplyStatusRequest<T extends KubeObject>(
  res: ResourceType,
  obj: T,
  opts: ApplyOptions = {},
): ApiRequest {
  const status = (obj as KubeObject as Unstructured)['status'];
  if (status === undefined) throw new Error(`applyStatus: ${res.kind} ${obj.metadata?.name} has no status`);
  const { name, namespace, uid, resourceVersion } = obj.metadata ?? {};
  const identity: Unstructured = { metadata: { name, namespace, uid, resourceVersion }, status };
  const body = applyBody(res, identity, opts);
  return {
    method: 'PATCH',
    path: objectPath(res, body.metadata?.namespace, body.metadata?.name as string, 'status'),
    query: applyQuery(opts),
    body: JSON.stringify(body),
    contentType: applyPatchContentType,
    signal: opts.signal,
  };
}
