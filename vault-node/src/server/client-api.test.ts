import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientApi } from './client-api.ts';
import { EscrowMetrics } from './escrow-metrics.ts';
import { SourceRateLimiter } from './rate-limit.ts';

// What the client port answers before any escrow logic runs: the body rules of the escrow
// endpoints (read without express.json, client-api.ts) and the answers around them. A member
// with no Raft yet answers a well-formed request 503, which shows the body got through.
let server: Server;
let url = '';
beforeAll(async () => {
  const app = clientApi({
    memberId: 'backups-dc1',
    node: () => null,
    escrow: () => null,
    forwarding: () => null,
    metrics: new EscrowMetrics(new Registry()),
    log: () => {},
    rateLimiter: new SourceRateLimiter({ ratePerSecond: 0, burst: 12 }),
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

async function post(body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/v1/escrow/recover/start`, { method: 'POST', body, headers });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

describe('client API: escrow request bodies', () => {
  it('takes JSON of any declared type, or none, up to 8 KiB', async () => {
    const unavailable = {
      status: 503,
      body: { error: { code: 'unavailable', message: expect.any(String) } },
    };
    expect(await post('{"userId":"alice"}')).toMatchObject({
      ...unavailable,
      type: 'application/json; charset=utf-8',
    });
    expect(await post(' [1]', { 'content-type': 'text/plain; charset=UTF-8' })).toMatchObject(unavailable);
    expect(await post('')).toMatchObject(unavailable);
    expect(await post(`{"a":"${'x'.repeat(8 * 1024 - 10)}"}`)).toMatchObject(unavailable);
  });

  it('answers 413, 400 and 415 with the error shape, before anything else', async () => {
    const err = (status: number, code: string) => ({
      status,
      body: { error: { code, message: expect.any(String) } },
    });
    expect(await post(`{"a":"${'x'.repeat(8 * 1024)}"}`)).toMatchObject(err(413, 'too-large'));
    expect(await post('{"a":')).toMatchObject(err(400, 'invalid-request'));
    expect(await post('"a string"')).toMatchObject(err(400, 'invalid-request'));
    expect(await post(new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject(err(400, 'invalid-request'));
    expect(await post('{}', { 'content-encoding': 'gzip' })).toMatchObject(err(415, 'unsupported-encoding'));
    expect(await post('{}', { 'content-type': 'application/json; charset=latin1' })).toMatchObject(
      err(415, 'unsupported-encoding'),
    );
  });

  it('other paths and methods: 404; beyond the source limit: 429', async () => {
    expect((await fetch(`${url}/v1/escrow/recover/start`)).status).toBe(404);
    expect((await fetch(`${url}/v2/x`, { method: 'POST', body: '{}' })).status).toBe(404);
    // The limiter's burst of 12 is spent by now: each request above took one token.
    expect(await post('{}')).toMatchObject({ status: 429, body: { error: { code: 'rate-limited' } } });
  });
});
