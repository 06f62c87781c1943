import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerAnswerTooLargeError, peerPost } from './peer-post.ts';

let server: Server;
let url = '';
const seen: { body: string; type: string | undefined; extra: string | undefined }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ body, type: req.headers['content-type'], extra: req.headers['x-extra'] as string });
      if (req.url === '/big') res.writeHead(200).end('x'.repeat(100_000));
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 2000);
      else res.writeHead(201).end(`echo:${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const o = { contentType: 'application/octet-stream', timeoutMs: 5000, maxAnswerBytes: 1000 };

describe('peerPost', () => {
  it('POSTs bytes or text with the headers given; returns status and text, reusing connections', async () => {
    expect(
      await peerPost(`${url}/a`, new Uint8Array([104, 105]), { ...o, headers: { 'x-extra': '1' } }),
    ).toEqual({
      status: 201,
      text: 'echo:hi',
    });
    expect(await peerPost(`${url}/a`, '{"a":1}', { ...o, contentType: 'application/json' })).toEqual({
      status: 201,
      text: 'echo:{"a":1}',
    });
    expect(seen.slice(-2)).toEqual([
      { body: 'hi', type: 'application/octet-stream', extra: '1' },
      { body: '{"a":1}', type: 'application/json', extra: undefined },
    ]);
  });

  it('refuses an answer over the limit, a timeout, and a URL that is not http(s)', async () => {
    await expect(peerPost(`${url}/big`, 'x', o)).rejects.toBeInstanceOf(PeerAnswerTooLargeError);
    await expect(peerPost(`${url}/slow`, 'x', { ...o, timeoutMs: 100 })).rejects.toThrow();
    await expect(peerPost('ftp://127.0.0.1/', 'x', o)).rejects.toThrow(/not an http/);
  });
});
