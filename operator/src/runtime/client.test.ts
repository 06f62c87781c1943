import type { VaultFleet, VaultFleetSpec, VaultFleetStatus } from '@keyfleet/sdk/api/index';
import { describe, expect, it } from 'vitest';
import { KubeClient } from './client.ts';
import { ApiError, isAlreadyExists, isConflict, isNotFound } from './errors.ts';
import { Informer } from './informer.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import { testFleetType } from './testing/fixtures.ts';

function setup() {
  const api = new FakeApiServer([
    builtin.configMap,
    builtin.lease,
    { type: testFleetType, statusSubresource: true },
  ]);
  return { api, client: new KubeClient(api) };
}

describe('KubeClient against the fake API server', () => {
  it('creates, gets, lists with selectors and pages, and deletes', async () => {
    const { api, client } = setup();
    const cms = client.resource<Unstructured>(builtin.configMap);
    for (const [i, app] of ['a', 'b', 'a'].entries()) {
      await cms.create({ metadata: { name: `c${i}`, namespace: 'n', labels: { app } } });
    }
    await cms.create({ metadata: { name: 'other', namespace: 'm' } });
    expect((await cms.get('n', 'c1')).metadata?.labels).toEqual({ app: 'b' });
    expect(
      (await cms.list({ namespace: 'n', labelSelector: 'app=a' })).items.map((o) => o.metadata?.name),
    ).toEqual(['c0', 'c2']);
    expect((await cms.list()).items).toHaveLength(4);
    const page1 = await cms.list({ namespace: 'n', limit: 2 });
    expect(page1.items).toHaveLength(2);
    const page2 = await cms.list({ namespace: 'n', limit: 2, continue: page1.metadata?.continue });
    expect(page2.items.map((o) => o.metadata?.name)).toEqual(['c2']);
    expect(page2.metadata?.continue).toBeUndefined();
    expect(await cms.delete('n', 'c0')).toBe(true);
    expect(await cms.delete('n', 'c0')).toBe(false);
    expect(await cms.tryGet('n', 'c0')).toBeUndefined();
    await expect(cms.get('n', 'c0')).rejects.toSatisfy(isNotFound);
    expect(api.requests.at(-1)).toMatchObject({ method: 'GET', path: '/api/v1/namespaces/n/configmaps/c0' });
  });

  it('reports AlreadyExists and resourceVersion conflicts distinctly', async () => {
    const { client } = setup();
    const leases = client.resource<Unstructured>(builtin.lease);
    const created = await leases.create({
      metadata: { name: 'l', namespace: 'n' },
      spec: { holderIdentity: 'a' },
    });
    await expect(leases.create({ metadata: { name: 'l', namespace: 'n' } })).rejects.toSatisfy(
      isAlreadyExists,
    );
    const updated = await leases.update({ ...created, spec: { holderIdentity: 'b' } });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(
      Number(created.metadata?.resourceVersion),
    );
    const stale = leases.update({ ...created, spec: { holderIdentity: 'c' } });
    await expect(stale).rejects.toSatisfy(isConflict);
    await expect(stale).rejects.toBeInstanceOf(ApiError);
    expect((await leases.get('n', 'l')).spec).toEqual({ holderIdentity: 'b' });
  });

  it('applies objects and status as the field manager, without touching the other half', async () => {
    const { api, client } = setup();
    const fleets = client.resource<Unstructured>(testFleetType);
    const first = await fleets.apply({ metadata: { name: 'f', namespace: 'n' }, spec: { zones: ['dc1'] } });
    expect(first.metadata?.generation).toBe(1);
    await fleets.applyStatus({ ...first, status: { readyMembers: 1 } });
    const second = await fleets.apply({
      metadata: { name: 'f', namespace: 'n' },
      spec: { zones: ['dc1', 'dc2', 'dc3'] },
      status: { readyMembers: 99 },
    });
    expect(second.status).toEqual({ readyMembers: 1 });
    expect(second.metadata?.generation).toBe(2);
    const applies = api.requests.filter((r) => r.method === 'PATCH');
    expect(applies.map((r) => r.path)).toEqual([
      '/apis/keyfleet.dev/v1alpha1/namespaces/n/vaultfleets/f',
      '/apis/keyfleet.dev/v1alpha1/namespaces/n/vaultfleets/f/status',
      '/apis/keyfleet.dev/v1alpha1/namespaces/n/vaultfleets/f',
    ]);
    for (const r of applies) {
      expect(r.contentType).toBe('application/apply-patch+yaml');
      expect(r.query).toMatchObject({ fieldManager: 'keyfleet-operator', force: 'true' });
    }
    // A status apply for an object that does not exist is a 404, never a create.
    await expect(
      fleets.applyStatus({ metadata: { name: 'g', namespace: 'n' }, status: {} }),
    ).rejects.toSatisfy(isNotFound);
  });

  it('takes the generated API types (interfaces without an index signature)', async () => {
    const { client } = setup();
    const fleets = client.resource<VaultFleet>(testFleetType);
    const status: VaultFleetStatus = { readyMembers: 3 } as VaultFleetStatus;
    const spec = { zones: ['dc1', 'dc2', 'dc3'], image: 'vault-node:1' } as VaultFleetSpec;
    const fleet: VaultFleet = {
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      metadata: { name: 'backups', namespace: 'vaults' },
      spec,
    };
    const applied = await fleets.apply(fleet);
    const withStatus = await fleets.applyStatus({ ...applied, status });
    expect(withStatus.status?.readyMembers).toBe(3);
    expect(new Informer<VaultFleet>(client, { resource: testFleetType }).store.size).toBe(0);
  });

  it('passes injected faults through as ApiError with the Status reason', async () => {
    const { api, client } = setup();
    api.failNext({ method: 'GET' }, 503, { reason: 'ServiceUnavailable', message: 'etcd is down' });
    const err = await client.list(builtin.configMap).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, reason: 'ServiceUnavailable' });
    expect((err as Error).message).toContain('etcd is down');
    expect((await client.list(builtin.configMap)).items).toEqual([]);
  });
});
