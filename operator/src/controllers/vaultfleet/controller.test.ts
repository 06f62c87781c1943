import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../metrics.ts';
import { KubeClient } from '../../runtime/client.ts';
import { Manager } from '../../runtime/manager.ts';
import { builtin, type KubeObject } from '../../runtime/resource.ts';
import { waitFor } from '../../runtime/testing/wait.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { createVaultFleetController } from './controller.ts';
import { FakeMembers, fleetApiServer } from './fake-members.ts';
import { vaultFleetType } from './reconcile.ts';

const NS = 'vaults';
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function start() {
  const api = fleetApiServer(['node-dc1', 'node-dc2', 'node-dc3']);
  const members = new FakeMembers(api);
  const manager = new Manager({
    client: new KubeClient(api),
    identity: 'test',
    namespaces: [NS],
    leaderElection: false,
    controllers: [
      { name: 'vaultfleet', create: (ctx) => createVaultFleetController(ctx, { connect: members.connect }) },
    ],
    metrics: createOperatorMetrics(),
  });
  const stop = new AbortController();
  const done = manager.run(stop.signal);
  // The kubelet: start whatever pods appear.
  const kubelet = setInterval(() => members.runPods(NS), 20);
  stops.push(async () => {
    clearInterval(kubelet);
    stop.abort();
    await done;
  });
  const { uid: _u, generation: _g, ...metadata } = testFleet({ zones: ['dc1', 'dc2', 'dc3'] }).metadata;
  api.seed(vaultFleetType, { ...testFleet({ zones: ['dc1', 'dc2', 'dc3'] }), metadata } as VaultFleet &
    KubeObject);
  const fleet = () => api.object<VaultFleet & KubeObject>(vaultFleetType, NS, 'backups');
  return { api, members, fleet };
}

describe('VaultFleet controller (informers, watches, queue)', () => {
  it('brings a three-zone fleet up and recreates a pod deleted behind its back', async () => {
    const t = start();
    await waitFor('fleet Available', () => t.fleet()?.status?.phase === 'Available', 20_000);
    expect(t.fleet()?.status?.readyMembers).toBe(3);
    const old = t.api.object<KubeObject>(builtin.pod, NS, 'backups-dc2');
    t.api.remove(builtin.pod, NS, 'backups-dc2');
    t.members.forget('dc2');
    // The pod's DELETED event brings the fleet back to the queue at once (no waiting for a requeue).
    await waitFor(
      'backups-dc2 recreated',
      () => {
        const p = t.api.object<KubeObject>(builtin.pod, NS, 'backups-dc2');
        return p !== undefined && p.metadata?.uid !== old?.metadata?.uid;
      },
      1_500,
    );
    const pod = t.api.object<KubeObject>(builtin.pod, NS, 'backups-dc2') as unknown as V1Pod;
    expect(pod.spec?.containers?.[0]?.env?.find((e) => e.name === 'KEYFLEET_CLUSTER_STATE')?.value).toBe(
      'existing',
    );
  }, 30_000);
});
