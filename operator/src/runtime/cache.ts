// The informer's cache: objects keyed by `namespace/name`, with secondary indexes (by owner
// UID, by namespace, or any function of the object). Stored objects are deep-frozen so a
// controller that edits what it read from the cache fails loudly instead of corrupting it.
import { type KubeObject, objectKey } from './resource.ts';

/** Index values of one object (an object may sit under several values, or none). */
export type IndexFunc<T extends KubeObject> = (obj: T) => string[];

export const indexByOwnerUid: IndexFunc<KubeObject> = (obj) =>
  (obj.metadata?.ownerReferences ?? []).map((r) => r.uid);

export const indexByNamespace: IndexFunc<KubeObject> = (obj) =>
  obj.metadata?.namespace ? [obj.metadata.namespace] : [];

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface ReplaceDelta<T> {
  added: T[];
  updated: [oldObj: T, newObj: T][];
  deleted: T[];
}

export class Store<T extends KubeObject> {
  readonly #items = new Map<string, T>();
  readonly #indexers: Record<string, IndexFunc<T>> = {};
  readonly #indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) this.addIndexer(name, fn);
  }

  /** Adds an index (before or after objects arrived); a name already present is kept as is. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (this.#indexers[name]) return;
    this.#indexers[name] = fn;
    this.#indices.set(name, new Map());
    for (const [key, obj] of this.#items) this.#indexOne(name, fn, key, obj);
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.#items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  byIndex(indexName: string, value: string): T[] {
    const index = this.#indices.get(indexName);
    if (!index)
      throw new Error(`no index named "${indexName}" (have: ${Object.keys(this.#indexers).join(', ')})`);
    return [...(index.get(value) ?? [])].map((k) => this.#items.get(k) as T);
  }

  /** Inserts or replaces; returns the previous object, if any. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.#items.get(key);
    if (old) this.#unindex(key, old);
    this.#items.set(key, deepFreeze(obj));
    this.#index(key, obj);
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.#items.get(key);
    if (!old) return undefined;
    this.#unindex(key, old);
    this.#items.delete(key);
    return old;
  }

  /**
   * Makes the store hold exactly `objs` (a fresh list) and says what changed. With `inScope`,
   * only objects it accepts are replaced (one namespace's list leaves the others alone).
   */
  replace(objs: T[], inScope: (obj: T) => boolean = () => true): ReplaceDelta<T> {
    const delta: ReplaceDelta<T> = { added: [], updated: [], deleted: [] };
    const fresh = new Set<string>();
    for (const obj of objs) {
      fresh.add(objectKey(obj));
      const old = this.upsert(obj);
      if (old) delta.updated.push([old, obj]);
      else delta.added.push(obj);
    }
    for (const [key, obj] of this.#items) {
      if (fresh.has(key) || !inScope(obj)) continue;
      delta.deleted.push(this.delete(key) as T);
    }
    return delta;
  }

  #index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.#indexers)) this.#indexOne(name, fn, key, obj);
  }

  #indexOne(name: string, fn: IndexFunc<T>, key: string, obj: T): void {
    const index = this.#indices.get(name) as Map<string, Set<string>>;
    for (const value of fn(obj)) {
      let keys = index.get(value);
      if (!keys) {
        keys = new Set();
        index.set(value, keys);
      }
      keys.add(key);
    }
  }

  #unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.#indexers)) {
      const index = this.#indices.get(name) as Map<string, Set<string>>;
      for (const value of fn(obj)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  }
}
