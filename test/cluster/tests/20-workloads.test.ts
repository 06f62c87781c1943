// Workloads on the seven zone nodes: a StatefulSet spread over the zones with PVCs, pods reaching
// each other by IP, headless DNS and a ClusterIP Service, kubectl logs, and pods coming back with
// their data after a deletion or a crash. Prints the pod start latency.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stateDir } from '../src/config.ts';
import { faults } from '../src/control-client.ts';
import { run } from '../src/sh.ts';
import {
  echo,
  ensureNamespace,
  isReady,
  Kube,
  kubectl,
  type PodObj,
  reachable,
  until,
  yamlText,
} from './helpers.ts';

const ns = 'cluster-web';
const kube = new Kube();
const figures: Record<string, number> = {};

const manifest = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${ns}}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-vip, namespace: ${ns}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: ${ns}}
data: {GREETING: hello-from-configmap, settings.json: '{"a":1}'}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: ${ns}}
spec:
  serviceName: web
  replicas: 7
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: echo
        image: keyfleet.test/echo:1
        envFrom: [{configMapRef: {name: web-config}}]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: POD_GREETING, value: "$(GREETING) to $(POD_NAME)"}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
        livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 5}
        volumeMounts:
        - {name: data, mountPath: /data}
        - {name: config, mountPath: /etc/web}
        - {name: podinfo, mountPath: /etc/podinfo}
      volumes:
      - {name: config, configMap: {name: web-config}}
      - name: podinfo
        downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: name, fieldRef: {fieldPath: metadata.name}}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`;

const podPath = (name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;
const getPod = (name: string) => kube.getOrUndefined<PodObj>(podPath(name));
const names = Array.from({ length: 7 }, (_, i) => `web-${i}`);
const zoneOf = new Map<string, string>();

async function readyPods(): Promise<PodObj[]> {
  const pods = await Promise.all(names.map(getPod));
  return pods.every((p) => isReady(p) && !p?.metadata.deletionTimestamp) ? (pods as PodObj[]) : [];
}

beforeAll(async () => {
  await ensureNamespace(kube, ns);
  const t0 = Date.now();
  for (const obj of yamlText(manifest)) {
    const plural = { Service: 'services', ConfigMap: 'configmaps', StatefulSet: 'statefulsets' }[obj.kind!]!;
    const base = obj.kind === 'StatefulSet' ? `/apis/apps/v1/namespaces/${ns}` : `/api/v1/namespaces/${ns}`;
    await kube.apply(`${base}/${plural}/${obj.metadata.name}`, obj);
  }
  const pods = await until(
    '7 Ready web pods',
    async () => {
      const p = await readyPods();
      return p.length === 7 ? p : undefined;
    },
    180_000,
    200,
  );
  figures['statefulset_7_pods_ready_seconds'] = (Date.now() - t0) / 1000;
  for (const p of pods) {
    const node = await kube.get(`/api/v1/nodes/${p.spec.nodeName}`);
    zoneOf.set(p.metadata.name, node.metadata.labels!['topology.kubernetes.io/zone']!);
  }
});

afterAll(async () => {
  writeFileSync(join(stateDir, 'figures-workloads.json'), JSON.stringify(figures, null, 2));
  process.stderr.write(`cluster figures: ${JSON.stringify(figures)}\n`);
  kube.close();
});

const ipOf = async (name: string) => (await getPod(name))!.status!.podIP!;

describe('a StatefulSet over seven zones', () => {
  test('one pod per zone, each with its own bound PVC on its node', async () => {
    expect([...zoneOf.values()].sort()).toEqual(['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7']);
    for (const n of names) {
      const pvc = await kube.get<{ metadata: { name: string }; status: { phase: string } }>(
        `/api/v1/namespaces/${ns}/persistentvolumeclaims/data-${n}`,
      );
      expect(pvc.status.phase).toBe('Bound');
    }
  });

  test('pods see their env, envFrom, $(VAR) expansion, configMap and downwardAPI volumes and hostname', async () => {
    const ip = await ipOf('web-2');
    const who = await echo<{ hostname: string; env: Record<string, string>; addresses: string[] }>(
      ip,
      '/whoami',
    );
    expect(who.body.hostname).toBe('web-2');
    expect(who.body.env['POD_NAME']).toBe('web-2');
    expect(who.body.env['POD_IP']).toBe(ip);
    expect(who.body.env['POD_GREETING']).toBe('hello-from-configmap to web-2');
    expect(who.body.env['KUBERNETES_SERVICE_HOST']).toBe('10.96.0.1');
    expect(who.body.addresses).toContain(ip);
    const cfg = await echo<{ text: string }>(
      ip,
      `/file?path=${encodeURIComponent('/etc/web/settings.json')}`,
    );
    expect(cfg.body.text).toBe('{"a":1}');
    const name = await echo<{ text: string }>(ip, `/file?path=${encodeURIComponent('/etc/podinfo/name')}`);
    expect(name.body.text).toBe('web-2');
    const ns2 = await echo<{ text: string }>(
      ip,
      `/file?path=${encodeURIComponent('/var/run/secrets/kubernetes.io/serviceaccount/namespace')}`,
    );
    expect(ns2.body.text).toBe(ns);
  });

  test('an updated ConfigMap reaches the mounted volume of a running pod', async () => {
    const ip = await ipOf('web-6');
    await kube.mergePatch(`/api/v1/namespaces/${ns}/configmaps/web-config`, {
      data: { 'settings.json': '{"a":2}' },
    });
    await until(
      'settings.json updated in web-6',
      async () => {
        const r = await echo<{ text: string }>(
          ip,
          `/file?path=${encodeURIComponent('/etc/web/settings.json')}`,
        );
        return r.body.text === '{"a":2}';
      },
      30_000,
      500,
    );
  });

  test('the projected service-account token authenticates to the apiserver through the kubernetes Service', async () => {
    const r = await faults.exec(ns, 'web-1', [
      'sh',
      '-c',
      'T=/var/run/secrets/kubernetes.io/serviceaccount; curl -s --cacert $T/ca.crt -H "Authorization: Bearer $(cat $T/token)" https://kubernetes.default.svc/api/v1/namespaces/$(cat $T/namespace)/pods',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // Authenticated as the pod's service account (RBAC then forbids listing pods: it has no role).
    expect(r.stdout).toContain(`system:serviceaccount:${ns}:default`);
  });

  test('pods reach each other over their own IPs, across every zone', async () => {
    for (let i = 0; i < 7; i++) {
      const from = await ipOf(names[i]!);
      const to = await ipOf(names[(i + 1) % 7]!);
      expect(await reachable(from, `http://${to}:8080/whoami`), `${names[i]} -> ${names[(i + 1) % 7]}`).toBe(
        true,
      );
    }
  });

  test('headless DNS names resolve to pod IPs inside pods, and the ClusterIP Service answers', async () => {
    const from = await ipOf('web-0');
    for (const n of names) {
      const r = await echo<{ addresses: string[] }>(from, `/resolve?name=${n}.web.${ns}.svc.cluster.local`);
      expect(r.body.addresses).toEqual([await ipOf(n)]);
    }
    const short = await echo<{ addresses: string[] }>(from, '/resolve?name=web-3.web');
    expect(short.body.addresses).toEqual([await ipOf('web-3')]);
    const svc = await kube.get<{ spec: { clusterIP: string } }>(`/api/v1/namespaces/${ns}/services/web-vip`);
    const vip = await echo<{ addresses: string[] }>(from, '/resolve?name=web-vip');
    expect(vip.body.addresses).toEqual([svc.spec.clusterIP]);
    expect(await reachable(from, `http://web-vip.${ns}.svc.cluster.local/whoami`)).toBe(true);
    expect(await reachable(from, `http://web-4.web.${ns}.svc.cluster.local:8080/whoami`)).toBe(true);
  });

  test('names outside the cluster do not resolve (nothing is forwarded off the machine)', async () => {
    const r = await echo(await ipOf('web-0'), '/resolve?name=example.com');
    expect(r.status).toBe(502);
  });

  test('traffic containment: pods have no default route; the host refuses pod and Service addresses no one owns', async () => {
    // `ip route get` asks the routing table only: no packet is sent anywhere.
    const r = await faults.exec(ns, 'web-0', [
      'sh',
      '-c',
      'ip route; ip route get 192.0.2.1 2>&1; ip route get 8.8.8.8 2>&1; true',
    ]);
    expect(r.stdout).not.toMatch(/^default/m);
    expect(r.stdout.match(/Network is unreachable/g)?.length).toBe(2);
    const host = run('sh', ['-c', 'ip route get 10.244.200.9 2>&1; ip route get 10.96.250.1 2>&1; true']);
    expect(host.match(/unreachable|No route to host/gi)?.length).toBe(2);
  });

  test('kubectl logs reads a container log through the node agent', async () => {
    const r = await kubectl('logs', '-n', ns, 'web-5');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('echo listening on :8080 as web-5');
  });

  test('a deleted pod comes back on its node with its data', async () => {
    const before = (await getPod('web-3'))!;
    await echo(before.status!.podIP!, '/data/state', { method: 'PUT', body: 'survives-deletion' });
    const r = await kubectl('delete', 'pod', '-n', ns, 'web-3', '--wait=true');
    expect(r.code, r.stderr).toBe(0);
    const after = await until('web-3 recreated and Ready', async () => {
      const p = await getPod('web-3');
      return p && p.metadata.uid !== before.metadata.uid && isReady(p) ? p : undefined;
    });
    expect(after.spec.nodeName).toBe(before.spec.nodeName);
    const got = await echo<{ value: string }>(after.status!.podIP!, '/data/state');
    expect(got.body.value).toBe('survives-deletion');
  });

  test('a crashed container is restarted (restartCount) and keeps its data', async () => {
    const ip = await ipOf('web-4');
    await echo(ip, '/data/state', { method: 'PUT', body: 'survives-crash' });
    await faults.killPod(ns, 'web-4');
    const p = await until('web-4 restarted and Ready', async () => {
      const x = await getPod('web-4');
      return x && isReady(x) && (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
    });
    const got = await echo<{ value: string }>(p.status!.podIP!, '/data/state');
    expect(got.body.value).toBe('survives-crash');
    const previous = await kubectl('logs', '-n', ns, 'web-4', '--previous');
    expect(previous.stdout).toContain('echo listening on :8080 as web-4');
  });

  test('pod start latency (create to Ready) of a single pod', async () => {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `latency-${i}`;
      const t0 = Date.now();
      await kube.create(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'echo',
              image: 'keyfleet.test/echo:1',
              readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      });
      await until(`${name} Ready`, async () => isReady(await getPod(name)), 60_000, 50);
      samples.push((Date.now() - t0) / 1000);
      await kube.delete(podPath(name));
    }
    figures['pod_start_to_ready_seconds_median'] = [...samples].sort((a, b) => a - b)[1]!;
    figures['pod_start_to_ready_seconds_max'] = Math.max(...samples);
    expect(samples.every((s) => s > 0)).toBe(true);
    await until('latency pods gone', async () => {
      const left = await Promise.all([0, 1, 2].map((i) => getPod(`latency-${i}`)));
      return left.every((x) => x === undefined);
    });
  });
});
