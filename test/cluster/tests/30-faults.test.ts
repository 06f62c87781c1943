// The fault-injection API against the StatefulSet of 20-workloads: zone partitions, an isolated
// pod, a stopped node.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { faults } from '../src/control-client.ts';
import { isAlive } from '../src/proc.ts';
import { isReady, Kube, type Obj, type PodObj, reachable, until } from './helpers.ts';

const ns = 'cluster-web';
const kube = new Kube();
afterEach(async () => {
  await faults.heal();
});
afterAll(() => kube.close());

async function podsByZone(): Promise<Map<string, PodObj>> {
  const list = await kube.list<PodObj>(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`);
  const out = new Map<string, PodObj>();
  for (const p of list.items) {
    const node = await kube.get(`/api/v1/nodes/${p.spec.nodeName}`);
    out.set(node.metadata.labels!['topology.kubernetes.io/zone']!, p);
  }
  return out;
}

const url = (p: PodObj) => `http://${p.status!.podIP}:8080/whoami`;

describe('fault injection', () => {
  test('partitionZone cuts a zone off from the others both ways; heal restores it', async () => {
    const pods = await podsByZone();
    const [a, b, c] = [pods.get('dc1')!, pods.get('dc3')!, pods.get('dc5')!];
    expect(await reachable(a.status!.podIP!, url(c))).toBe(true);
    await faults.partitionZone('dc5');
    expect(await reachable(a.status!.podIP!, url(c))).toBe(false);
    expect(await reachable(c.status!.podIP!, url(b))).toBe(false);
    // Other zones still talk to each other, and DNS (control plane) still answers.
    expect(await reachable(a.status!.podIP!, url(b))).toBe(true);
    await faults.heal('dc5');
    expect(await reachable(a.status!.podIP!, url(c))).toBe(true);
    expect(await reachable(c.status!.podIP!, url(b))).toBe(true);
  });

  test('isolatePod cuts one pod off from every other pod', async () => {
    const pods = await podsByZone();
    const [a, b, x] = [pods.get('dc2')!, pods.get('dc4')!, pods.get('dc6')!];
    await faults.isolatePod(ns, x.metadata.name);
    expect(await reachable(a.status!.podIP!, url(x))).toBe(false);
    expect(await reachable(x.status!.podIP!, url(b))).toBe(false);
    expect(await reachable(a.status!.podIP!, url(b))).toBe(true);
    await faults.unisolatePod(ns, x.metadata.name);
    expect(await reachable(a.status!.podIP!, url(x))).toBe(true);
  });

  test('stopNode: the node goes NotReady and its pod stops; restartNode brings both back', async () => {
    const pod = (await podsByZone()).get('dc7')!;
    const name = pod.metadata.name;
    const before = (await faults.status()).pods.find((p) => p.name === name)!;
    expect(before.pids.length).toBeGreaterThan(0);
    await faults.stopNode('dc7');
    expect(before.pids.some(isAlive)).toBe(false);
    const notReady = (n: Obj & { status?: { conditions?: { type: string; status: string }[] } }) =>
      n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True';
    await until('kf-dc7 NotReady', async () => notReady(await kube.get('/api/v1/nodes/kf-dc7')), 60_000, 500);
    const other = (await podsByZone()).get('dc1')!;
    expect(await reachable(other.status!.podIP!, url(pod), 1000)).toBe(false);
    await faults.restartNode('dc7');
    await until('kf-dc7 Ready', async () => !notReady(await kube.get('/api/v1/nodes/kf-dc7')), 30_000, 500);
    const back = await until(`${name} running again`, async () => {
      const p = await kube.getOrUndefined<PodObj>(`/api/v1/namespaces/${ns}/pods/${name}`);
      return p && isReady(p) && p.spec.nodeName === 'kf-dc7' ? p : undefined;
    });
    expect(await reachable(other.status!.podIP!, url(back))).toBe(true);
  });
});
