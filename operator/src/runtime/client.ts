// A small typed client over the transport: the verbs the runtime and the controllers use, with
// API errors turned into ApiError. Writes to managed objects go through apply/applyStatus;
// create and update (PUT with a resourceVersion precondition) exist for the few places that
// need create-only or compare-and-swap semantics (the leader Lease).
import {
  type ApplyOptions,
  buildApplyRequest,
  buildApplyStatusRequest,
  fieldManager as defaultFieldManager,
} from './apply.ts';
import { ApiError, isNotFound } from './errors.ts';
import {
  collectionPath,
  type KubeList,
  type KubeObject,
  objectPath,
  type ResourceType,
  resourceName,
} from './resource.ts';
import type { ApiRequest, ApiTransport, WatchEvent } from './transport.ts';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** Server-side end of the watch; the client gives up 30 s after it. */
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  signal?: AbortSignal;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  signal?: AbortSignal;
}

export class KubeClient {
  readonly transport: ApiTransport;
  readonly fieldManager: string;

  constructor(transport: ApiTransport, options: { fieldManager?: string } = {}) {
    this.transport = transport;
    this.fieldManager = options.fieldManager ?? defaultFieldManager;
  }

  async #call<T>(req: ApiRequest, what: string, expect: number[] = [200, 201]): Promise<T> {
    const res = await this.transport.request(req);
    if (!expect.includes(res.status)) throw ApiError.fromResponse(res.status, res.body, what);
    return (res.body === '' ? undefined : JSON.parse(res.body)) as T;
  }

  get<T extends KubeObject>(
    res: ResourceType,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ) {
    return this.#call<T>(
      { method: 'GET', path: objectPath(res, namespace, name), signal },
      `get ${res.kind} ${namespace ? `${namespace}/` : ''}${name}`,
    );
  }

  /** Like get, but a missing object is `undefined` instead of an error. */
  async tryGet<T extends KubeObject>(
    res: ResourceType,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(res, namespace, name, signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject>(res: ResourceType, opts: ListOptions = {}): Promise<KubeList<T>> {
    return this.#call<KubeList<T>>(
      {
        method: 'GET',
        path: collectionPath(res, opts.namespace),
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.limit === undefined ? undefined : String(opts.limit),
          continue: opts.continue,
          resourceVersion: opts.resourceVersion,
        },
        signal: opts.signal,
      },
      `list ${resourceName(res)}`,
    );
  }

  watch<T extends KubeObject>(res: ResourceType, opts: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    return this.transport.watch({
      method: 'GET',
      path: collectionPath(res, opts.namespace),
      query: {
        watch: 'true',
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: opts.timeoutSeconds === undefined ? undefined : String(opts.timeoutSeconds),
      },
      signal: opts.signal,
      timeoutMs: opts.timeoutSeconds === undefined ? undefined : (opts.timeoutSeconds + 30) * 1000,
    }) as AsyncIterable<WatchEvent<T>>;
  }

  create<T extends KubeObject>(res: ResourceType, obj: T, signal?: AbortSignal): Promise<T> {
    const ns = obj.metadata?.namespace;
    return this.#call<T>(
      {
        method: 'POST',
        path: collectionPath(res, ns),
        query: { fieldManager: this.fieldManager },
        body: JSON.stringify(obj),
        signal,
      },
      `create ${res.kind} ${obj.metadata?.name ?? ''}`,
    );
  }

  /** PUT: the object's metadata.resourceVersion makes it a compare-and-swap (409 on a stale one). */
  update<T extends KubeObject>(res: ResourceType, obj: T, signal?: AbortSignal): Promise<T> {
    const { namespace, name } = obj.metadata ?? {};
    if (!name) throw new Error(`update: ${res.kind} needs metadata.name`);
    return this.#call<T>(
      {
        method: 'PUT',
        path: objectPath(res, namespace, name),
        query: { fieldManager: this.fieldManager },
        body: JSON.stringify(obj),
        signal,
      },
      `update ${res.kind} ${name}`,
    );
  }

  apply<T extends KubeObject>(res: ResourceType, obj: T, opts: ApplyOptions = {}): Promise<T> {
    const req = buildApplyRequest(res, obj, { fieldManager: this.fieldManager, ...opts });
    return this.#call<T>(req, `apply ${res.kind} ${obj.metadata?.name}`);
  }

  applyStatus<T extends KubeObject>(res: ResourceType, obj: T, opts: ApplyOptions = {}): Promise<T> {
    const req = buildApplyStatusRequest(res, obj, { fieldManager: this.fieldManager, ...opts });
    return this.#call<T>(req, `apply status of ${res.kind} ${obj.metadata?.name}`);
  }

  /** Deletes; returns false when the object was already gone. */
  async delete(res: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}) {
    const body =
      opts.propagationPolicy || opts.preconditions
        ? JSON.stringify({
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            propagationPolicy: opts.propagationPolicy,
            preconditions: opts.preconditions,
          })
        : undefined;
    try {
      await this.#call<unknown>(
        { method: 'DELETE', path: objectPath(res, namespace, name), body, signal: opts.signal },
        `delete ${res.kind} ${name}`,
        [200, 202],
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** The same verbs bound to one kind, typed by its object type. */
  resource<T extends KubeObject>(res: ResourceType): ResourceClient<T> {
    return {
      type: res,
      get: (ns, name, signal) => this.get<T>(res, ns, name, signal),
      tryGet: (ns, name, signal) => this.tryGet<T>(res, ns, name, signal),
      list: (opts) => this.list<T>(res, opts),
      watch: (opts) => this.watch<T>(res, opts),
      create: (obj, signal) => this.create<T>(res, obj, signal),
      update: (obj, signal) => this.update<T>(res, obj, signal),
      apply: (obj, opts) => this.apply<T>(res, obj, opts),
      applyStatus: (obj, opts) => this.applyStatus<T>(res, obj, opts),
      delete: (ns, name, opts) => this.delete(res, ns, name, opts),
    };
  }
}

export interface ResourceClient<T extends KubeObject> {
  type: ResourceType;
  get(namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T>;
  tryGet(namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T | undefined>;
  list(opts?: ListOptions): Promise<KubeList<T>>;
  watch(opts?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  create(obj: T, signal?: AbortSignal): Promise<T>;
  update(obj: T, signal?: AbortSignal): Promise<T>;
  apply(obj: T, opts?: ApplyOptions): Promise<T>;
  applyStatus(obj: T, opts?: ApplyOptions): Promise<T>;
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<boolean>;
}
