// An in-memory stand-in for the Kubernetes API server, behind the same ApiTransport the real
// client uses, so tests drive the runtime's real request building and response handling.
//
// What it models: resourceVersions (one global counter), uid/generation/creationTimestamp,
// create (409 AlreadyExists), update with a resourceVersion precondition (409 Conflict),
// server-side apply as an upsert with a deep merge (no per-field ownership: a field the
// operator stops sending is not removed), merge patch, delete with finalizers, the status
// subresource, list with label/field selectors and pagination, and watch from a
// resourceVersion with a history that tests can compact (then a watch gets 410 Gone, as an
// ERROR event or as an HTTP 410). Faults: `failNext` makes matching requests fail with a
// status; `closeWatches`/`breakWatches` end open watch streams.
import { parse as parseYaml } from 'yaml';
import { ApiError, type StatusBody } from '../errors.ts';
import {
  apiVersionOf,
  type KubeObject,
  objectKey,
  type ResourceType,
  resourceName,
  type Unstructured,
} from '../resource.ts';
import type { ApiRequest, ApiResponse, ApiTransport, WatchEvent } from '../transport.ts';
import { parseLabelSelector } from './labels.ts';

export interface FakeResource {
  type: ResourceType;
  /** Whether the kind has a status subresource (then main-resource writes keep the old status). */
  statusSubresource?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
}

interface Fault {
  method?: string;
  path?: RegExp;
  watch?: boolean;
  status: number;
  reason: string;
  message: string;
  remaining: number;
}

interface Watcher {
  res: string;
  namespace?: string;
  matches: (obj: Unstructured) => boolean;
  bookmarks: boolean;
  queue: WatchEvent<Unstructured>[];
  wake?: () => void;
  closed: boolean;
}

interface Target {
  res: FakeResource;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const clone = <T>(v: T): T => structuredClone(v);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 merge: objects merge recursively, null removes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function statusBody(code: number, reason: string, message: string): StatusBody {
  return { kind: 'Status', status: 'Failure', code, reason, message };
}

function fail(code: number, reason: string, message: string): ApiResponse {
  return { status: code, body: JSON.stringify({ apiVersion: 'v1', ...statusBody(code, reason, message) }) };
}

const ok = (obj: unknown, status = 200): ApiResponse => ({ status, body: JSON.stringify(obj) });

function withoutVolatile(obj: Unstructured): Unstructured {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = obj.metadata ?? {};
  return { ...obj, metadata };
}

function specChanged(a: Unstructured, b: Unstructured): boolean {
  const strip = ({ metadata: _m, status: _s, ...rest }: Unstructured) => JSON.stringify(rest);
  return strip(a) !== strip(b);
}

export class FakeApiServer implements ApiTransport {
  readonly #resources: FakeResource[];
  readonly #objects = new Map<string, Map<string, Unstructured>>();
  #rv = 1000;
  #uid = 0;
  #compactedRv = 0;
  #history: { rv: number; res: string; event: WatchEvent<Unstructured> }[] = [];
  readonly #watchers = new Set<Watcher>();
  #faults: Fault[] = [];
  readonly requests: RecordedRequest[] = [];
  /** How a watch from a compacted resourceVersion is refused: an ERROR event (what the API server does) or HTTP 410. */
  expiredWatch: 'event' | 'http' = 'event';
  now: () => Date = () => new Date();
  /** Delay before each request is served (a timer, so fake timers control it). */
  latencyMs = 0;

  constructor(resources: (FakeResource | ResourceType)[]) {
    this.#resources = resources.map((r) => ('type' in r ? r : { type: r }));
  }

  // ---- test controls -------------------------------------------------------------------------

  /** Stores an object as if it had been created (no faults, no request recorded). */
  seed<T extends KubeObject>(type: ResourceType, obj: T): T {
    const res = this.#resource(type);
    const created = this.#create(res, clone(obj) as KubeObject as Unstructured, obj.metadata?.namespace);
    if (created.status !== 201) throw new Error(`seed failed: ${created.body}`);
    return JSON.parse(created.body) as T;
  }

  object<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): T | undefined {
    const obj = this.#store(resourceName(type)).get(namespace ? `${namespace}/${name}` : name);
    return obj ? (clone(obj) as KubeObject as T) : undefined;
  }

  objects<T extends KubeObject>(type: ResourceType, namespace?: string): T[] {
    return [...this.#store(resourceName(type)).values()]
      .filter((o) => !namespace || o.metadata?.namespace === namespace)
      .map((o) => clone(o) as KubeObject as T);
  }

  /** Deletes directly (as another client would), emitting the watch event. */
  remove(type: ResourceType, namespace: string | undefined, name: string): void {
    const store = this.#store(resourceName(type));
    const key = namespace ? `${namespace}/${name}` : name;
    const obj = store.get(key);
    if (!obj) return;
    store.delete(key);
    this.#record(resourceName(type), 'DELETED', {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: this.#nextRv() },
    });
  }

  /** Writes directly (as another client would): merges `patch` into the stored object. */
  modify(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: Record<string, unknown>,
  ): void {
    const store = this.#store(resourceName(type));
    const key = namespace ? `${namespace}/${name}` : name;
    const obj = store.get(key);
    if (!obj) throw new Error(`modify: ${key} not found`);
    const next = mergePatch(obj, patch) as Unstructured;
    next.metadata = { ...next.metadata, resourceVersion: this.#nextRv() };
    store.set(key, next);
    this.#record(resourceName(type), 'MODIFIED', next);
  }

  /** Forgets the watch history: watches from an older resourceVersion now get 410 Gone. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** The next `times` requests matching get `status` instead of being served. */
  failNext(
    match: { method?: string; path?: RegExp; watch?: boolean },
    status: number,
    opts: { reason?: string; message?: string; times?: number } = {},
  ): void {
    this.#faults.push({
      ...match,
      status,
      reason: opts.reason ?? (status === 409 ? 'Conflict' : status >= 500 ? 'InternalError' : 'BadRequest'),
      message: opts.message ?? `injected failure ${status}`,
      remaining: opts.times ?? 1,
    });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  get openWatches(): number {
    return [...this.#watchers].filter((w) => !w.closed).length;
  }

  /** Ends every open watch stream normally, as the API server does at timeoutSeconds. */
  closeWatches(): void {
    for (const w of this.#watchers) this.#close(w);
  }

  /** Sends an ERROR event with this Status to every open watch, then ends it. */
  breakWatches(status: StatusBody): void {
    for (const w of this.#watchers) {
      w.queue.push({
        type: 'ERROR',
        object: { kind: 'Status', apiVersion: 'v1', ...status } as Unstructured,
      });
      this.#close(w);
    }
  }

  sendBookmarks(): void {
    for (const w of this.#watchers) {
      if (!w.bookmarks || w.closed) continue;
      w.queue.push({ type: 'BOOKMARK', object: { metadata: { resourceVersion: String(this.#rv) } } });
      w.wake?.();
    }
  }

  // ---- transport -----------------------------------------------------------------------------

  async request(req: ApiRequest): Promise<ApiResponse> {
    // Let every caller that is ready run up to its request first, so races between clients show.
    await null;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    this.#log(req);
    const fault = this.#fault(req, false);
    if (fault) return fault;
    if (req.signal?.aborted) throw req.signal.reason;
    const target = this.#parse(req.path);
    if (!target) return fail(404, 'NotFound', `the server could not find the requested resource ${req.path}`);
    const q = req.query ?? {};
    switch (req.method) {
      case 'GET':
        return target.name ? this.#get(target) : this.#list(target, q);
      case 'POST':
        return this.#create(target.res, JSON.parse(req.body ?? '{}') as Unstructured, target.namespace);
      case 'PUT':
        return this.#update(target, JSON.parse(req.body ?? '{}') as Unstructured);
      case 'PATCH':
        return this.#patch(target, req, q);
      case 'DELETE':
        return this.#delete(target, req.body ? (JSON.parse(req.body) as Record<string, unknown>) : {});
    }
  }

  async *watch(req: ApiRequest): AsyncGenerator<WatchEvent> {
    await null;
    this.#log(req);
    const fault = this.#fault(req, true);
    if (fault) throw ApiError.fromResponse(fault.status, fault.body, `watch ${req.path}`);
    const target = this.#parse(req.path);
    if (!target || target.name) throw new ApiError(404, `watch ${req.path}: not a collection`, 'NotFound');
    const q = req.query ?? {};
    const res = resourceName(target.res.type);
    const from = q['resourceVersion'];
    if (from && from !== '0' && Number(from) < this.#compactedRv) {
      const msg = `too old resource version: ${from} (${this.#compactedRv})`;
      if (this.expiredWatch === 'http')
        throw ApiError.fromResponse(410, fail(410, 'Expired', msg).body, 'watch');
      yield {
        type: 'ERROR',
        object: { kind: 'Status', apiVersion: 'v1', ...statusBody(410, 'Expired', msg) },
      };
      return;
    }
    const labels = parseLabelSelector(q['labelSelector']);
    const watcher: Watcher = {
      res,
      namespace: target.namespace,
      matches: (o) =>
        (!target.namespace || o.metadata?.namespace === target.namespace) && labels(o.metadata?.labels ?? {}),
      bookmarks: q['allowWatchBookmarks'] === 'true',
      queue: [],
      closed: false,
    };
    if (!from || from === '0') {
      for (const o of this.#store(res).values())
        if (watcher.matches(o)) watcher.queue.push({ type: 'ADDED', object: clone(o) });
    } else {
      for (const h of this.#history) {
        if (h.res === res && h.rv > Number(from) && watcher.matches(h.event.object))
          watcher.queue.push(clone(h.event));
      }
    }
    this.#watchers.add(watcher);
    const onAbort = () => this.#close(watcher);
    req.signal?.addEventListener('abort', onAbort);
    try {
      while (true) {
        const next = watcher.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (watcher.closed) return;
        await new Promise<void>((resolve) => {
          watcher.wake = resolve;
        });
        watcher.wake = undefined;
      }
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      watcher.closed = true;
      this.#watchers.delete(watcher);
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  #log(req: ApiRequest): void {
    let body: unknown;
    if (req.body !== undefined) {
      try {
        body = JSON.parse(req.body);
      } catch {
        body = req.body;
      }
    }
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) query[k] = v;
    this.requests.push({ method: req.method, path: req.path, query, contentType: req.contentType, body });
  }

  #fault(req: ApiRequest, watch: boolean): ApiResponse | undefined {
    const f = this.#faults.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method === req.method) &&
        (f.path === undefined || f.path.test(req.path)) &&
        (f.watch === undefined || f.watch === watch),
    );
    if (!f) return undefined;
    f.remaining--;
    this.#faults = this.#faults.filter((x) => x.remaining > 0);
    return fail(f.status, f.reason, f.message);
  }

  #resource(type: ResourceType): FakeResource {
    const r = this.#resources.find((x) => resourceName(x.type) === resourceName(type));
    if (!r) throw new Error(`the fake API server does not serve ${resourceName(type)}`);
    return r;
  }

  #store(res: string): Map<string, Unstructured> {
    let s = this.#objects.get(res);
    if (!s) {
      s = new Map();
      this.#objects.set(res, s);
    }
    return s;
  }

  #parse(path: string): Target | undefined {
    const m = /^\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(path);
    if (!m) return undefined;
    const [, coreVersion, group = '', groupVersion] = m;
    const version = coreVersion ?? groupVersion;
    const segs = (m[4] ?? '').split('/');
    const find = (plural: string | undefined) =>
      this.#resources.find(
        (r) => r.type.group === group && r.type.version === version && r.type.plural === plural,
      );
    let namespace: string | undefined;
    if (segs[0] === 'namespaces' && segs.length >= 3 && find(segs[2])?.type.namespaced) {
      namespace = segs[1];
      segs.splice(0, 2);
    }
    const res = find(segs[0]);
    if (!res) return undefined;
    return { res, namespace, name: segs[1], subresource: segs[2] };
  }

  #key(t: Target): string {
    return t.res.type.namespaced ? `${t.namespace}/${t.name}` : (t.name as string);
  }

  #nextRv(): string {
    this.#rv++;
    return String(this.#rv);
  }

  #record(res: string, type: WatchEvent['type'], obj: Unstructured): void {
    const event: WatchEvent<Unstructured> = { type, object: clone(obj) };
    this.#history.push({ rv: this.#rv, res, event });
    for (const w of this.#watchers) {
      if (w.closed || w.res !== res || !w.matches(obj)) continue;
      w.queue.push(clone(event));
      w.wake?.();
    }
  }

  #close(w: Watcher): void {
    w.closed = true;
    w.wake?.();
  }

  #notFound(t: Target): ApiResponse {
    return fail(404, 'NotFound', `${resourceName(t.res.type)} "${t.name}" not found`);
  }

  #get(t: Target): ApiResponse {
    const obj = this.#store(resourceName(t.res.type)).get(this.#key(t));
    return obj ? ok(obj) : this.#notFound(t);
  }

  #list(t: Target, q: Record<string, string | undefined>): ApiResponse {
    const labels = parseLabelSelector(q['labelSelector']);
    const fields = (q['fieldSelector'] ?? '')
      .split(',')
      .filter((f) => f !== '')
      .map((f) => f.split('=') as [string, string]);
    const fieldOf = (o: Unstructured, f: string) =>
      f === 'metadata.name'
        ? o.metadata?.name
        : f === 'metadata.namespace'
          ? o.metadata?.namespace
          : undefined;
    let items = [...this.#store(resourceName(t.res.type)).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .filter(([, o]) => !t.namespace || o.metadata?.namespace === t.namespace)
      .filter(([, o]) => labels(o.metadata?.labels ?? {}))
      .filter(([, o]) => fields.every(([f, v]) => fieldOf(o, f) === v));
    const after = q['continue']
      ? (JSON.parse(Buffer.from(q['continue'], 'base64url').toString()) as string)
      : '';
    if (after) items = items.filter(([k]) => k > after);
    const limit = q['limit'] ? Number(q['limit']) : 0;
    let cont: string | undefined;
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      cont = Buffer.from(JSON.stringify(items[items.length - 1]?.[0])).toString('base64url');
    }
    const type = t.res.type;
    return ok({
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion: String(this.#rv), continue: cont },
      items: items.map(([, o]) => o),
    });
  }

  #create(res: FakeResource, obj: Unstructured, namespace: string | undefined): ApiResponse {
    const type = res.type;
    const metadata = { ...obj.metadata };
    if (!metadata.name && metadata.generateName)
      metadata.name = `${metadata.generateName}${(++this.#uid).toString(36)}`;
    if (!metadata.name) return fail(422, 'Invalid', `${type.kind}: metadata.name: Required value`);
    if (type.namespaced) {
      metadata.namespace = metadata.namespace ?? namespace;
      if (!metadata.namespace) return fail(422, 'Invalid', 'metadata.namespace: Required value');
      if (namespace && metadata.namespace !== namespace) {
        return fail(
          400,
          'BadRequest',
          'the namespace of the object does not match the namespace of the request',
        );
      }
    }
    const store = this.#store(resourceName(type));
    const key = objectKey({ metadata });
    if (store.has(key)) {
      return fail(409, 'AlreadyExists', `${resourceName(type)} "${metadata.name}" already exists`);
    }
    const stored: Unstructured = {
      ...obj,
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...metadata,
        uid: `uid-${++this.#uid}`,
        resourceVersion: this.#nextRv(),
        generation: 1,
        creationTimestamp: this.now().toISOString(),
      },
    };
    if (res.statusSubresource) delete stored['status'];
    store.set(key, stored);
    this.#record(resourceName(type), 'ADDED', stored);
    return ok(stored, 201);
  }

  /** Stores `next` over `prev` (an existing object), or finishes a deletion whose finalizers are gone. */
  #write(t: Target, prev: Unstructured, next: Unstructured): ApiResponse {
    const res = resourceName(t.res.type);
    const metadata = {
      ...next.metadata,
      name: prev.metadata?.name,
      namespace: prev.metadata?.namespace,
      uid: prev.metadata?.uid,
      creationTimestamp: prev.metadata?.creationTimestamp,
      deletionTimestamp: prev.metadata?.deletionTimestamp,
      generation: prev.metadata?.generation,
    };
    let merged: Unstructured = { ...next, apiVersion: prev.apiVersion, kind: prev.kind, metadata };
    if (t.res.statusSubresource) {
      merged =
        t.subresource === 'status'
          ? {
              ...prev,
              status: merged['status'],
              metadata: { ...prev.metadata, managedFields: metadata.managedFields },
            }
          : { ...merged, status: prev['status'] };
      if (merged['status'] === undefined) delete merged['status'];
    }
    if (JSON.stringify(withoutVolatile(merged)) === JSON.stringify(withoutVolatile(prev))) return ok(prev);
    if (specChanged(prev, merged))
      merged.metadata = { ...merged.metadata, generation: (prev.metadata?.generation ?? 0) + 1 };
    merged.metadata = { ...merged.metadata, resourceVersion: this.#nextRv() };
    const store = this.#store(res);
    if (merged.metadata.deletionTimestamp && !merged.metadata.finalizers?.length) {
      store.delete(this.#key(t));
      this.#record(res, 'DELETED', merged);
      return ok(merged);
    }
    store.set(this.#key(t), merged);
    this.#record(res, 'MODIFIED', merged);
    return ok(merged);
  }

  #conflict(t: Target): ApiResponse {
    return fail(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${resourceName(t.res.type)} "${t.name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  }

  #update(t: Target, obj: Unstructured): ApiResponse {
    const prev = this.#store(resourceName(t.res.type)).get(this.#key(t));
    if (!prev) return this.#notFound(t);
    if (obj.metadata?.name !== t.name)
      return fail(400, 'BadRequest', 'the name of the object does not match the URL');
    const rv = obj.metadata?.resourceVersion;
    if (rv && rv !== prev.metadata?.resourceVersion) return this.#conflict(t);
    return this.#write(t, prev, obj);
  }

  #patch(t: Target, req: ApiRequest, q: Record<string, string | undefined>): ApiResponse {
    if (!t.name) return fail(405, 'MethodNotAllowed', 'PATCH needs an object path');
    const store = this.#store(resourceName(t.res.type));
    const prev = store.get(this.#key(t));
    const patch = parseYaml(req.body ?? '{}') as Unstructured;
    if (req.contentType === 'application/apply-patch+yaml') {
      const manager = q['fieldManager'];
      if (!manager)
        return fail(
          400,
          'BadRequest',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value',
        );
      const type = t.res.type;
      if (patch.apiVersion !== apiVersionOf(type) || patch.kind !== type.kind) {
        return fail(
          400,
          'BadRequest',
          `apply body must have apiVersion ${apiVersionOf(type)} and kind ${type.kind}`,
        );
      }
      if (patch.metadata?.name !== t.name)
        return fail(400, 'BadRequest', 'the name of the object does not match the URL');
      if (patch.metadata?.managedFields) return fail(400, 'BadRequest', 'metadata.managedFields must be nil');
      const managed = [{ manager, operation: 'Apply', subresource: t.subresource }];
      if (!prev) {
        if (t.subresource) return this.#notFound(t);
        if (patch.metadata?.resourceVersion) return this.#conflict(t);
        const created = this.#create(
          t.res,
          { ...patch, metadata: { ...patch.metadata, managedFields: managed } },
          t.namespace,
        );
        return created.status === 201 ? { ...created, status: 201 } : created;
      }
      const rv = patch.metadata?.resourceVersion;
      if (rv && rv !== prev.metadata?.resourceVersion) return this.#conflict(t);
      if (patch.metadata?.uid && patch.metadata.uid !== prev.metadata?.uid) {
        return fail(
          409,
          'Conflict',
          `Precondition failed: UID in precondition: ${patch.metadata.uid}, UID in object meta: ${prev.metadata?.uid}`,
        );
      }
      const next = mergePatch(prev, patch) as Unstructured;
      const others = (prev.metadata?.managedFields ?? []) as { manager: string; subresource?: string }[];
      const keep = others.filter((m) => m.manager !== manager || m.subresource !== t.subresource);
      next.metadata = { ...next.metadata, managedFields: [...keep, ...managed] };
      return this.#write(t, prev, next);
    }
    if (req.contentType === 'application/merge-patch+json') {
      if (!prev) return this.#notFound(t);
      return this.#write(t, prev, mergePatch(prev, patch) as Unstructured);
    }
    return fail(415, 'UnsupportedMediaType', `the fake API server does not support ${req.contentType}`);
  }

  #delete(t: Target, opts: Record<string, unknown>): ApiResponse {
    if (!t.name) return fail(405, 'MethodNotAllowed', 'DELETE needs an object path');
    const res = resourceName(t.res.type);
    const store = this.#store(res);
    const prev = store.get(this.#key(t));
    if (!prev) return this.#notFound(t);
    const pre = (opts['preconditions'] ?? {}) as { uid?: string; resourceVersion?: string };
    if (
      (pre.uid && pre.uid !== prev.metadata?.uid) ||
      (pre.resourceVersion && pre.resourceVersion !== prev.metadata?.resourceVersion)
    ) {
      return fail(409, 'Conflict', `Precondition failed for ${res} "${t.name}"`);
    }
    if (prev.metadata?.finalizers?.length) {
      if (prev.metadata.deletionTimestamp) return ok(prev, 202);
      const next = {
        ...prev,
        metadata: {
          ...prev.metadata,
          deletionTimestamp: this.now().toISOString(),
          resourceVersion: this.#nextRv(),
        },
      };
      store.set(this.#key(t), next);
      this.#record(res, 'MODIFIED', next);
      return ok(next, 202);
    }
    store.delete(this.#key(t));
    const gone = { ...prev, metadata: { ...prev.metadata, resourceVersion: this.#nextRv() } };
    this.#record(res, 'DELETED', gone);
    return ok({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Success',
      details: { name: t.name, kind: t.res.type.plural },
    });
  }
}
