// Serves a FakeApiServer over plain HTTP on loopback (client-node wants insecure-skip-tls-verify
// for http:// servers), so tests can run the real
// KubeConfigTransport (client-node's authentication and fetch) and main.ts against it.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../errors.ts';
import type { HttpVerb } from '../transport.ts';
import type { FakeApiServer } from './fake-apiserver.ts';

export interface ServedFake {
  url: string;
  /** A kubeconfig (YAML) pointing at the server, for KubeConfig.loadFromString or a file. */
  kubeconfig: string;
  /** Headers of every request the server received, e.g. to check authentication. */
  headers: Record<string, string | string[] | undefined>[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
}

export async function serveOverHttp(fake: FakeApiServer, token = 'test-token'): Promise<ServedFake> {
  const headers: ServedFake['headers'] = [];
  const server = createServer(async (req, res) => {
    headers.push(req.headers);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const request = {
      method: req.method as HttpVerb,
      path: url.pathname,
      query,
      body,
      contentType: req.headers['content-type'],
    };
    if (query['watch'] === 'true') {
      const stop = new AbortController();
      res.on('close', () => stop.abort());
      const events = fake.watch({ ...request, signal: stop.signal })[Symbol.asyncIterator]();
      let first: IteratorResult<unknown>;
      try {
        first = await events.next();
      } catch (err) {
        const status = err instanceof ApiError ? err.status : 500;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(err instanceof ApiError ? err.body : { message: String(err) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      for (let r = first; !r.done; r = await events.next()) res.write(`${JSON.stringify(r.value)}\n`);
      res.end();
      return;
    }
    const out = await fake.request(request);
    res.writeHead(out.status, { 'content-type': 'application/json' });
    res.end(out.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: fake, cluster: {server: "' + url + '", insecure-skip-tls-verify: true}}]',
    'users: [{name: fake, user: {token: "' + token + '"}}]',
    'contexts: [{name: fake, context: {cluster: fake, user: fake}}]',
    'current-context: fake',
    '',
  ].join('\n');
  return {
    url,
    kubeconfig,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
