import { describe, expect, it } from 'vitest';
import { indexByNamespace, indexByOwnerUid, Store } from './cache.ts';
import type { Unstructured } from './resource.ts';

const pod = (ns: string, name: string, owner?: string, rv = '1'): Unstructured => ({
  metadata: {
    name,
    namespace: ns,
    resourceVersion: rv,
    ownerReferences: owner ? [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: owner }] : undefined,
  },
});

describe('Store', () => {
  it('keys by namespace/name and keeps indexes in step with upserts and deletes', () => {
    const s = new Store<Unstructured>({ owner: indexByOwnerUid, ns: indexByNamespace });
    s.upsert(pod('a', 'p1', 'u1'));
    s.upsert(pod('a', 'p2', 'u1'));
    s.upsert(pod('b', 'p1', 'u2'));
    expect(s.keys().sort()).toEqual(['a/p1', 'a/p2', 'b/p1']);
    expect(s.getByName('b', 'p1')?.metadata?.ownerReferences?.[0]?.uid).toBe('u2');
    expect(
      s
        .byIndex('owner', 'u1')
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['p1', 'p2']);
    // Moving p2 to another owner moves it between index values.
    const old = s.upsert(pod('a', 'p2', 'u2', '2'));
    expect(old?.metadata?.resourceVersion).toBe('1');
    expect(s.byIndex('owner', 'u1').map((o) => o.metadata?.name)).toEqual(['p1']);
    expect(s.byIndex('owner', 'u2')).toHaveLength(2);
    s.delete('a/p1');
    expect(s.byIndex('owner', 'u1')).toEqual([]);
    expect(s.byIndex('ns', 'a').map((o) => o.metadata?.name)).toEqual(['p2']);
    expect(() => s.byIndex('nope', 'x')).toThrow(/no index named "nope"/);
  });

  it('replace reports added, updated and deleted objects', () => {
    const s = new Store<Unstructured>();
    s.upsert(pod('a', 'keep'));
    s.upsert(pod('a', 'gone'));
    const d = s.replace([pod('a', 'keep', undefined, '2'), pod('a', 'new')]);
    expect(d.added.map((o) => o.metadata?.name)).toEqual(['new']);
    expect(
      d.updated.map(([o, n]) => `${o.metadata?.resourceVersion}->${n.metadata?.resourceVersion}`),
    ).toEqual(['1->2']);
    expect(d.deleted.map((o) => o.metadata?.name)).toEqual(['gone']);
    expect(s.size).toBe(2);
  });

  it('adds an index over objects already stored', () => {
    const s = new Store<Unstructured>();
    s.upsert(pod('a', 'p1', 'u1'));
    s.addIndexer('owner', indexByOwnerUid);
    expect(s.byIndex('owner', 'u1').map((o) => o.metadata?.name)).toEqual(['p1']);
  });

  it('freezes what it stores', () => {
    const s = new Store<Unstructured>();
    s.upsert(pod('a', 'p', 'u'));
    const got = s.get('a/p') as Unstructured;
    expect(() => {
      (got.metadata as { name: string }).name = 'changed';
    }).toThrow(TypeError);
  });
});
