// An informer: list, then watch from the list's resourceVersion, keeping a Store current and
// telling event handlers what changed. Modelled on client-go's reflector + shared informer:
//  - the first list (paginated) fills the cache; hasSynced() is true from then on;
//  - a watch that the server ends normally (timeoutSeconds) is reopened at once from the last
//    resourceVersion seen (bookmarks keep that fresh on quiet resources);
//  - 410 Gone (as an HTTP status or as an ERROR event) means the resourceVersion left the API
//    server's window: list again and replace the cache, reporting deletions missed meanwhile;
//  - any other failure reopens the watch (or retries the list) after a jittered exponential
//    backoff, reset once a watch delivers events again;
//  - every resync period each cached object is handed to onUpdate(obj, obj), so a level-based
//    controller re-checks the world even when nothing changed.

import { type Logger, silentLogger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { Backoff, type BackoffOptions, sleep } from './backoff.ts';
import { type IndexFunc, Store } from './cache.ts';
import type { KubeClient } from './client.ts';
import { ApiError, isGone, type StatusBody } from './errors.ts';
import { apiVersionOf, type KubeObject, objectKey, type ResourceType, resourceName } from './resource.ts';

export interface EventHandler<T extends KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  resource: ResourceType;
  /** Watch one namespace; undefined or '' watches all namespaces. */
  namespace?: string;
  /**
   * Watch several namespaces (one list/watch each, one cache): for an operator that may only
   * read the namespaces it manages. Wins over `namespace`; empty watches all namespaces.
   */
  namespaces?: string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object to onUpdate this often; 0 turns resync off. */
  resyncPeriodMs?: number;
  indexers?: Record<string, IndexFunc<T>>;
  pageSize?: number;
  /** The server ends each watch after a random time in this range (seconds), as client-go does. */
  watchTimeoutSeconds?: [min: number, max: number];
  backoff?: BackoffOptions;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

export const defaultInformerBackoff: BackoffOptions = { initialMs: 800, maxMs: 30_000 };

// A watch that the server closes sooner than this without sending anything counts as a failure
// for backoff purposes, so a misbehaving server cannot make us reconnect in a tight loop.
const minHealthyWatchMs = 1000;

export class Informer<T extends KubeObject> {
  readonly store: Store<T>;
  readonly resource: ResourceType;
  readonly #client: KubeClient;
  readonly #opts: InformerOptions<T>;
  readonly #log: Logger;
  readonly #handlers = new Set<EventHandler<T>>();
  /** The namespaces listed and watched, each on its own loop; '' is all namespaces. */
  readonly #scopes: string[];
  readonly #resourceVersions = new Map<string, string>();
  readonly #syncedScopes = new Set<string>();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #stop?: AbortController;
  #loop?: Promise<void>;
  #resyncTimer?: NodeJS.Timeout;

  constructor(client: KubeClient, opts: InformerOptions<T>) {
    this.#client = client;
    this.#opts = opts;
    this.resource = opts.resource;
    this.store = new Store<T>(opts.indexers);
    const many = (opts.namespaces ?? []).filter((n) => n !== '');
    this.#scopes = opts.resource.namespaced
      ? many.length
        ? [...new Set(many)]
        : [opts.namespace ?? '']
      : [''];
    this.#log = (opts.logger ?? silentLogger).child({ informer: resourceName(opts.resource) });
  }

  /** The resourceVersion the (first) watch resumes from. */
  get lastSyncResourceVersion(): string {
    return this.#resourceVersions.get(this.#scopes[0] ?? '') ?? '';
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** Resolves true once synced, or false if `signal` aborts (or the informer stops) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /**
   * Adds a handler; returns the function that removes it. A handler added after the informer
   * synced first gets onAdd for every cached object, like client-go's late handlers.
   */
  addEventHandler(handler: EventHandler<T>): () => void {
    this.#handlers.add(handler);
    if (this.#synced) for (const obj of this.store.list()) this.#call(handler, 'onAdd', obj);
    return () => this.#handlers.delete(handler);
  }

  start(): void {
    if (this.#loop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = Promise.all(
      this.#scopes.map((scope) =>
        this.#run(scope, stop.signal).catch((err: unknown) => {
          this.#log.error('informer stopped on an unexpected error', { err, namespace: scope });
        }),
      ),
    ).then(() => {});
    const period = this.#opts.resyncPeriodMs ?? 0;
    if (period > 0) {
      this.#resyncTimer = setInterval(() => this.#resync(), period);
      this.#resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#resyncTimer);
    this.#stop?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(scope: string, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.#opts.backoff ?? defaultInformerBackoff);
    const metricLabel = resourceName(this.resource);
    let needList = true;
    let previousWasGone = false;
    while (!signal.aborted) {
      const watch = { progressed: false };
      try {
        if (needList) {
          await this.#listAndReplace(scope, signal);
          needList = false;
        }
        const started = Date.now();
        await this.#watch(scope, signal, watch);
        previousWasGone = false;
        if (signal.aborted) break;
        this.#opts.metrics?.informerWatchRestarts.inc({ resource: metricLabel, reason: 'closed' });
        if (watch.progressed || Date.now() - started >= minHealthyWatchMs) {
          backoff.reset();
          continue;
        }
        await sleep(backoff.next(), signal);
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.#log.info('resourceVersion expired (410 Gone): listing again', {
            namespace: scope,
            resourceVersion: this.#resourceVersions.get(scope),
          });
          this.#opts.metrics?.informerWatchRestarts.inc({ resource: metricLabel, reason: 'expired' });
          needList = true;
          // Relist at once; but a 410 again right after a relist, with nothing delivered in
          // between, would loop: slow that down like any failure.
          if (previousWasGone && !watch.progressed) await sleep(backoff.next(), signal);
          previousWasGone = true;
          continue;
        }
        previousWasGone = false;
        const delay = backoff.next();
        this.#log.warn(needList ? 'list failed; retrying' : 'watch failed; reconnecting', {
          err,
          retryInMs: Math.round(delay),
        });
        this.#opts.metrics?.informerWatchRestarts.inc({ resource: metricLabel, reason: 'error' });
        await sleep(delay, signal);
      }
    }
  }

  #withIdentity(obj: T): T {
    // Lists return items without apiVersion/kind; fill them so owner references and apply work.
    if (obj.apiVersion && obj.kind) return obj;
    return { ...obj, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind };
  }

  async #listAndReplace(scope: string, signal: AbortSignal): Promise<void> {
    const { labelSelector, fieldSelector } = this.#opts;
    const namespace = scope || undefined;
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    let limit: number | undefined = this.#opts.pageSize ?? 500;
    do {
      let page: Awaited<ReturnType<KubeClient['list']>>;
      try {
        page = await this.#client.list<T>(this.resource, {
          namespace,
          labelSelector,
          fieldSelector,
          limit,
          continue: cont,
          signal,
        });
      } catch (err) {
        if (!isGone(err) || cont === undefined) throw err;
        // The continue token expired mid-way: take the whole list in one request instead.
        this.#log.info('list continue token expired: listing without pages');
        items.length = 0;
        cont = undefined;
        limit = undefined;
        continue;
      }
      items.push(...(page.items as T[]));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont);
    this.#opts.metrics?.informerRelists.inc({ resource: resourceName(this.resource) });
    const delta = this.store.replace(
      items.map((o) => this.#withIdentity(o)),
      scope ? (o) => o.metadata?.namespace === scope : undefined,
    );
    this.#resourceVersions.set(scope, rv);
    this.#log.debug('listed', { count: items.length, resourceVersion: rv, namespace: scope });
    for (const obj of delta.deleted) this.#emit('onDelete', obj);
    for (const obj of delta.added) this.#emit('onAdd', obj);
    for (const [oldObj, newObj] of delta.updated) this.#emit('onUpdate', oldObj, newObj);
    this.#syncedScopes.add(scope);
    if (!this.#synced && this.#syncedScopes.size === this.#scopes.length) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** One watch until the server ends it; notes whether it delivered anything. Throws on ERROR events. */
  async #watch(scope: string, signal: AbortSignal, state: { progressed: boolean }): Promise<void> {
    const [min, max] = this.#opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.round(min + Math.random() * (max - min));
    const events = this.#client.watch<T>(this.resource, {
      namespace: scope || undefined,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
      resourceVersion: this.#resourceVersions.get(scope),
      allowWatchBookmarks: true,
      timeoutSeconds,
      signal,
    });
    for await (const ev of events) {
      if (signal.aborted) break;
      if (ev.type === 'ERROR') {
        throw ApiError.fromStatus(ev.object as StatusBody, `watch ${resourceName(this.resource)}`);
      }
      state.progressed = true;
      const rv = ev.object.metadata?.resourceVersion;
      if (ev.type === 'BOOKMARK') {
        if (rv) this.#resourceVersions.set(scope, rv);
        continue;
      }
      const obj = this.#withIdentity(ev.object);
      if (ev.type === 'DELETED') {
        this.store.delete(objectKey(obj));
        this.#emit('onDelete', obj);
      } else {
        const old = this.store.upsert(obj);
        if (old) this.#emit('onUpdate', old, obj);
        else this.#emit('onAdd', obj);
      }
      if (rv) this.#resourceVersions.set(scope, rv);
    }
  }

  #resync(): void {
    if (!this.#synced) return;
    for (const obj of this.store.list()) this.#emit('onUpdate', obj, obj);
  }

  #emit(kind: keyof EventHandler<T>, a: T, b?: T): void {
    for (const h of this.#handlers) this.#call(h, kind, a, b);
  }

  #call(h: EventHandler<T>, kind: keyof EventHandler<T>, a: T, b?: T): void {
    try {
      if (kind === 'onUpdate') h.onUpdate?.(a, b as T);
      else h[kind]?.(a);
    } catch (err) {
      this.#log.error('event handler threw', { err, event: kind });
    }
  }
}
