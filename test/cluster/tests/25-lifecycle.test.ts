// Pod lifecycle as the node agent plays the kubelet: Deployments and Jobs through their
// controllers, preStop hooks and SIGTERM, the grace period ending in SIGKILL, liveness restarts.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stateDir } from '../src/config.ts';
import { faults } from '../src/control-client.ts';
import { ensureNamespace, isReady, Kube, type Obj, type PodObj, until } from './helpers.ts';

const ns = 'cluster-lifecycle';
const kube = new Kube();
const hostDir = join(stateDir, 'lifecycle-hostpath');

beforeAll(async () => {
  await ensureNamespace(kube, ns);
  rmSync(hostDir, { recursive: true, force: true });
  mkdirSync(hostDir, { recursive: true });
});
afterAll(async () => {
  await kube.delete(`/api/v1/namespaces/${ns}`);
  kube.close();
});

const pod = (name: string) => kube.getOrUndefined<PodObj>(`/api/v1/namespaces/${ns}/pods/${name}`);

describe('pod lifecycle', () => {
  test('a Deployment rolls out two Ready replicas', async () => {
    await kube.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'echo' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'echo' } },
        template: {
          metadata: { labels: { app: 'echo' } },
          spec: {
            containers: [
              {
                name: 'echo',
                image: 'keyfleet.test/echo:1',
                readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    });
    await until('deployment available', async () => {
      const d = await kube.get<Obj & { status?: { readyReplicas?: number } }>(
        `/apis/apps/v1/namespaces/${ns}/deployments/echo`,
      );
      return d.status?.readyReplicas === 2;
    });
  });

  test('a Job runs its pod to completion', async () => {
    await kube.create(`/apis/batch/v1/namespaces/${ns}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once' },
      spec: {
        backoffLimit: 2,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'sh', image: 'busybox:1', command: ['sh', '-c', 'echo job-done'] }],
          },
        },
      },
    });
    await until('job succeeded', async () => {
      const j = await kube.get<Obj & { status?: { succeeded?: number } }>(
        `/apis/batch/v1/namespaces/${ns}/jobs/once`,
      );
      return j.status?.succeeded === 1;
    });
  });

  test('deletion runs the preStop hook, then SIGTERM; the container exits within its grace period', async () => {
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'graceful' },
      spec: {
        terminationGracePeriodSeconds: 20,
        containers: [
          {
            name: 'echo',
            image: 'keyfleet.test/echo:1',
            // Ready only once the server (and its SIGTERM handler) is up.
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
            volumeMounts: [{ name: 'out', mountPath: '/out' }],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop-ran > /out/prestop'] } } },
          },
        ],
        volumes: [{ name: 'out', hostPath: { path: hostDir } }],
      },
    });
    await until('graceful running', async () => isReady(await pod('graceful')));
    const log = (await faults.status()).pods.find((p) => p.name === 'graceful')!.logs['echo']!;
    const t0 = Date.now();
    await kube.delete(`/api/v1/namespaces/${ns}/pods/graceful`);
    await until('graceful gone', async () => (await pod('graceful')) === undefined, 30_000, 100);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(readFileSync(join(hostDir, 'prestop'), 'utf8').trim()).toBe('prestop-ran');
    expect(readFileSync(log, 'utf8')).toContain('SIGTERM received');
  });

  test('a container that ignores SIGTERM is killed when the grace period ends', async () => {
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'stubborn' },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'sh',
            image: 'busybox:1',
            command: ['sh', '-c', "trap '' TERM; touch /w/trapped; while true; do sleep 0.2; done"],
            // Ready once the trap is set, so the deletion cannot race the shell's start.
            readinessProbe: { exec: { command: ['test', '-f', '/w/trapped'] }, periodSeconds: 1 },
            volumeMounts: [{ name: 'w', mountPath: '/w' }],
          },
        ],
        volumes: [{ name: 'w', emptyDir: {} }],
      },
    });
    await until('stubborn running', async () => isReady(await pod('stubborn')));
    const pids = (await faults.status()).pods.find((p) => p.name === 'stubborn')!.pids;
    const t0 = Date.now();
    await kube.delete(`/api/v1/namespaces/${ns}/pods/stubborn`);
    await until('stubborn gone', async () => (await pod('stubborn')) === undefined, 30_000, 100);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(10_000);
    expect(
      pids.every(
        (p) => !existsSync(`/proc/${p}/cmdline`) || readFileSync(`/proc/${p}/cmdline`, 'utf8') === '',
      ),
    ).toBe(true);
  });

  test('a failing liveness probe restarts the container', async () => {
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'liveness' },
      spec: {
        containers: [
          {
            name: 'echo',
            image: 'keyfleet.test/echo:1',
            env: [{ name: 'DATA_DIR', value: '/scratch' }],
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
            livenessProbe: {
              httpGet: { path: '/healthz', port: 8080 },
              periodSeconds: 1,
              failureThreshold: 2,
            },
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      },
    });
    await until('liveness running', async () => isReady(await pod('liveness')));
    const r = await faults.exec(ns, 'liveness', ['sh', '-c', 'touch /scratch/unhealthy']);
    expect(r.code, r.stderr).toBe(0);
    const p = await until(
      'liveness restarted',
      async () => {
        const x = await pod('liveness');
        return (x?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
      },
      60_000,
      250,
    );
    expect(p.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);
  });
});
