import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Pod } from './types.ts';
import { materialiseVolumes, type VolumeLookups } from './volumes.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const api = (configMaps: Record<string, Record<string, string>>): VolumeLookups => ({
  configMap: async (name) => configMaps[name],
  secretBytes: async () => undefined,
  token: async () => 'token',
  claimPath: async () => {
    throw new Error('no claims here');
  },
});

function pod(optional: boolean): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      containers: [{ name: 'c', image: 'busybox' }],
      volumes: [
        {
          name: 'attestation',
          configMap: { name: 'cm', optional, items: [{ key: 'bundle.json', path: 'bundle.json' }] },
        },
      ],
    },
  } as unknown as Pod;
}

describe('configMap volumes with items', () => {
  it('an optional ConfigMap without the listed key: the pod starts, the path is absent (as the kubelet does)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kf-volumes-'));
    dirs.push(dir);
    const volumes = await materialiseVolumes(pod(true), dir, api({ cm: { 'pending.json': '' } }));
    expect(existsSync(join(volumes.get('attestation') as string, 'bundle.json'))).toBe(false);
  });

  it('a required one fails the volume with the missing key named; a present key is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kf-volumes-'));
    dirs.push(dir);
    await expect(materialiseVolumes(pod(false), dir, api({ cm: {} }))).rejects.toThrow(
      /has no key "bundle.json"/,
    );
    const volumes = await materialiseVolumes(pod(false), dir, api({ cm: { 'bundle.json': '{}' } }));
    expect(readFileSync(join(volumes.get('attestation') as string, 'bundle.json'), 'utf8')).toBe('{}');
  });
});
