import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../metrics.ts';
import type { Readiness } from './manager.ts';
import { createHealthApp, listen, parseListenAddress, type RunningServer } from './server.ts';

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(readiness: Readiness) {
  const metrics = createOperatorMetrics();
  metrics.reconcileTotal.inc({ controller: 'vaultfleet', result: 'success' });
  server = await listen(
    createHealthApp({ readiness: () => readiness, registry: metrics.registry }),
    '127.0.0.1:0',
  );
  return `http://127.0.0.1:${server.address.port}`;
}

const base: Readiness = {
  ready: true,
  role: 'standby',
  informersSynced: true,
  leader: 'other',
  controllers: {},
};

describe('health server', () => {
  it('serves /healthz, /readyz for a standby, /metrics, and JSON 404s', async () => {
    const url = await serve(base);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok', role: 'standby', leader: 'other' });
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain(
      'keyfleet_reconcile_total{controller="vaultfleet",result="success"} 1',
    );
    const missing = await fetch(`${url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'NotFound', message: 'no route for GET /nope' } });
  });

  it('answers 503 with the reason while not ready', async () => {
    const url = await serve({ ...base, ready: false, role: 'leader', controllers: { vaultfleet: false } });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not ready', controllers: { vaultfleet: false } });
  });

  it('parses listen addresses', () => {
    expect(parseListenAddress(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(parseListenAddress('9090')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(() => parseListenAddress('localhost')).toThrow(/host:port/);
    expect(() => parseListenAddress(':70000')).toThrow(/host:port/);
  });
});
