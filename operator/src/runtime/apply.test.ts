import { describe, expect, it } from 'vitest';
import { applyBody, buildApplyRequest, buildApplyStatusRequest } from './apply.ts';
import { builtin } from './resource.ts';
import { testFleetType } from './testing/fixtures.ts';

describe('server-side apply requests', () => {
  it('PATCHes the object path as apply-patch+yaml with the field manager, forced', () => {
    const req = buildApplyRequest(builtin.configMap, {
      metadata: { name: 'cfg', namespace: 'vaults', labels: { a: 'b' } },
      data: { k: 'v' },
    });
    expect(req.method).toBe('PATCH');
    expect(req.path).toBe('/api/v1/namespaces/vaults/configmaps/cfg');
    expect(req.contentType).toBe('application/apply-patch+yaml');
    expect(req.query).toEqual({ fieldManager: 'keyfleet-operator', force: 'true', dryRun: undefined });
    expect(JSON.parse(req.body ?? '')).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'vaults', labels: { a: 'b' } },
      data: { k: 'v' },
    });
  });

  it('removes server-owned metadata and, unless asked, the resourceVersion', () => {
    const obj = {
      metadata: {
        name: 'x',
        namespace: 'n',
        uid: 'u1',
        resourceVersion: '42',
        generation: 3,
        creationTimestamp: '2020-01-01T00:00:00Z',
        managedFields: [{ manager: 'kubectl' }],
      },
      spec: { zones: ['dc1'] },
    };
    expect(applyBody(testFleetType, obj).metadata).toEqual({ name: 'x', namespace: 'n', uid: 'u1' });
    expect(applyBody(testFleetType, obj, { keepResourceVersion: true }).metadata?.resourceVersion).toBe('42');
    expect(obj.metadata.managedFields).toHaveLength(1); // the caller's object is not changed
  });

  it('refuses objects that do not match the resource or lack identity', () => {
    expect(() => applyBody(testFleetType, { kind: 'Pod', metadata: { name: 'x', namespace: 'n' } })).toThrow(
      /kind Pod/,
    );
    expect(() =>
      applyBody(testFleetType, { apiVersion: 'v1', metadata: { name: 'x', namespace: 'n' } }),
    ).toThrow(/apiVersion v1/);
    expect(() => applyBody(testFleetType, { metadata: { namespace: 'n' } })).toThrow(/metadata.name/);
    expect(() => applyBody(testFleetType, { metadata: { name: 'x' } })).toThrow(/namespaced/);
    expect(applyBody(builtin.namespace, { metadata: { name: 'x', namespace: 'ignored' } }).metadata).toEqual({
      name: 'x',
    });
  });

  it('applies status through the status subresource with only identity and status', () => {
    const req = buildApplyStatusRequest(
      testFleetType,
      {
        metadata: {
          name: 'backups',
          namespace: 'vaults',
          uid: 'u1',
          labels: { x: 'y' },
          resourceVersion: '7',
        },
        spec: { zones: ['dc1'] },
        status: { readyMembers: 3 },
      },
      { fieldManager: 'other', force: false, dryRun: true },
    );
    expect(req.path).toBe('/apis/keyfleet.dev/v1alpha1/namespaces/vaults/vaultfleets/backups/status');
    expect(req.query).toEqual({ fieldManager: 'other', force: 'false', dryRun: 'All' });
    expect(JSON.parse(req.body ?? '')).toEqual({
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      metadata: { name: 'backups', namespace: 'vaults', uid: 'u1' },
      status: { readyMembers: 3 },
    });
    expect(() => buildApplyStatusRequest(testFleetType, { metadata: { name: 'a', namespace: 'b' } })).toThrow(
      /no status/,
    );
  });
});
