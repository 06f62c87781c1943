import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPublicKey } from '../hsm/keys.ts';
import { BackupClient, httpTransport, type Transport } from './client.ts';
import { ESCROW_PATHS } from './wire.ts';

// The full protocol is exercised against the real service in vault-node/src/escrow/roundtrip.test.ts;
// here: what the client does with responses that are not what it expects.

const trustedMembers = new Map([['backups-dc1', rawPublicKey(generateKeyPairSync('ed25519').publicKey)]]);
const client = (transport: Transport) =>
  new BackupClient({ fleetId: 'vaults/backups', trustedMembers, transport });

describe('BackupClient error handling', () => {
  it("maps the fleet's error bodies to error codes, keeping status and server code", async () => {
    const answer = (status: number, body: unknown) => client(async () => ({ status, body }));
    await expect(
      answer(423, { error: { code: 'locked', message: 'locked forever' } }).recover('alice', 'pw'),
    ).rejects.toMatchObject({ code: 'locked', status: 423, serverCode: 'locked', message: /locked forever/ });
    await expect(
      answer(404, { error: { code: 'not-found', message: 'x' } }).recover('alice', 'pw'),
    ).rejects.toMatchObject({ code: 'not-found' });
    await expect(answer(502, null).recover('alice', 'pw')).rejects.toMatchObject({
      code: 'server',
      status: 502,
    });
    await expect(answer(200, { member: 'backups-dc1' }).recover('alice', 'pw')).rejects.toMatchObject({
      code: 'bad-response',
      message: /loginId/,
    });
  });

  it('validates its own inputs before any network traffic', async () => {
    let calls = 0;
    const c = client(async () => {
      calls++;
      return { status: 500, body: null };
    });
    await expect(c.recover('a@b.c', 'pw')).rejects.toThrow(/userId/);
    await expect(c.recover('alice', '')).rejects.toThrow(/password/);
    await expect(c.register('alice', 'pw', new Uint8Array(31))).rejects.toThrow(/32 bytes/);
    expect(calls).toBe(0);
    expect(
      () =>
        new BackupClient({
          fleetId: 'vaults/backups',
          trustedMembers: new Map(),
          transport: async () => ({ status: 0, body: null }),
        }),
    ).toThrow(/trustedMembers/);
  });
});

describe('httpTransport', () => {
  let url = '';
  const seen: { path: string | undefined; body: string; type: string | undefined }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ path: req.url, body, type: req.headers['content-type'] });
      if (req.url?.endsWith('/delete')) {
        res.writeHead(502).end('<html>bad gateway</html>');
      } else {
        res
          .writeHead(423, { 'content-type': 'application/json' })
          .end('{"error":{"code":"locked","message":"m"}}');
      }
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => {
    server.close();
  });

  it('POSTs JSON to base + path and returns status and decoded body (null when not JSON)', async () => {
    const t = httpTransport(url, { timeoutMs: 5000 });
    expect(await t(ESCROW_PATHS.recoverStart, { userId: 'alice' })).toEqual({
      status: 423,
      body: { error: { code: 'locked', message: 'm' } },
    });
    expect(await t(ESCROW_PATHS.delete, {})).toEqual({ status: 502, body: null });
    expect(seen[0]).toEqual({
      path: '/v1/escrow/recover/start',
      body: '{"userId":"alice"}',
      type: 'application/json',
    });
  });
});
