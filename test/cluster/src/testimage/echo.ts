// keyfleet.test/echo: the cluster harness's own test image (see images.yaml). A small HTTP server
// a test drives from outside to look at a pod from the inside:
//   GET  /healthz               200 "ok" (503 while the file $DATA_DIR/unhealthy exists)
//   GET  /whoami                {hostname, env: POD_*, addresses, cwd}
//   GET  /resolve?name=N        {addresses} via the pod's resolver (getaddrinfo: /etc/resolv.conf)
//   GET  /fetch?url=U           {status, body} of an HTTP GET from inside the pod (cluster addresses only)
//   GET  /data/K, PUT /data/K   read/write a file under $DATA_DIR (default /data)
//   GET  /file?path=P           a file's text (to look at mounted volumes)
// Env: PORT (default 8080), DATA_DIR. SIGTERM closes the server and exits 0 (after $STOP_DELAY_MS).
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';

const port = Number(process.env['PORT'] ?? 8080);
const dataDir = process.env['DATA_DIR'] ?? '/data';
const MAX_BODY = 1024 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

/** Only cluster addresses and names: this image never talks to anything outside the test cluster. */
function allowedTarget(u: URL): boolean {
  return (
    u.protocol === 'http:' &&
    (/^10\.(244|96)\.\d+\.\d+$/.test(u.hostname) ||
      u.hostname.endsWith('.cluster.local') ||
      u.hostname.endsWith('.svc') ||
      // search-domain relative names: <svc>, <pod>.<svc>, <svc>.<ns>
      u.hostname.split('.').length <= 2)
  );
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy(new Error('too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://pod');
  const key = /^\/data\/([A-Za-z0-9._-]{1,100})$/.exec(url.pathname)?.[1];
  if (url.pathname === '/healthz') {
    if (existsSync(join(dataDir, 'unhealthy'))) fail(res, 503, 'unhealthy', 'unhealthy file present');
    else send(res, 200, 'ok');
  } else if (url.pathname === '/whoami') {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.startsWith('POD_') || k.startsWith('KUBERNETES_SERVICE')),
    );
    const addresses = Object.values(networkInterfaces())
      .flat()
      .map((i) => i?.address);
    send(res, 200, { hostname: hostname(), env, addresses, cwd: process.cwd(), pid: process.pid });
  } else if (url.pathname === '/resolve') {
    const name = url.searchParams.get('name') ?? '';
    try {
      send(res, 200, { addresses: (await lookup(name, { all: true, family: 4 })).map((a) => a.address) });
    } catch (e) {
      fail(res, 502, 'resolve_failed', (e as Error).message);
    }
  } else if (url.pathname === '/fetch') {
    let target: URL;
    try {
      target = new URL(url.searchParams.get('url') ?? '');
    } catch {
      return fail(res, 400, 'bad_url', 'url must be an absolute http URL');
    }
    if (!allowedTarget(target)) return fail(res, 400, 'forbidden_target', 'only cluster addresses and names');
    const timeout = Math.min(Number(url.searchParams.get('timeoutMs') ?? 3000), 10_000);
    try {
      const r = await fetch(target, { signal: AbortSignal.timeout(timeout) });
      send(res, 200, { status: r.status, body: (await r.text()).slice(0, 64 * 1024) });
    } catch (e) {
      fail(
        res,
        502,
        'fetch_failed',
        `${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}`,
      );
    }
  } else if (key && req.method === 'PUT') {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, key), await readBody(req));
    send(res, 200, { stored: key });
  } else if (key) {
    const file = join(dataDir, key);
    if (!existsSync(file)) return fail(res, 404, 'not_found', `no ${key}`);
    send(res, 200, { key, value: readFileSync(file, 'utf8') });
  } else if (url.pathname === '/file') {
    const p = url.searchParams.get('path') ?? '';
    if (!p.startsWith('/') || !existsSync(p)) return fail(res, 404, 'not_found', `no file ${p}`);
    send(res, 200, { path: p, text: readFileSync(p, 'utf8').slice(0, 64 * 1024) });
  } else {
    fail(res, 404, 'not_found', `no route ${url.pathname}`);
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((e: Error) => fail(res, 500, 'internal', e.message));
});
server.listen(port, () => process.stdout.write(`echo listening on :${port} as ${hostname()}\n`));
process.on('SIGTERM', () => {
  process.stdout.write('SIGTERM received, shutting down\n');
  setTimeout(() => server.close(() => process.exit(0)), Number(process.env['STOP_DELAY_MS'] ?? 0));
  setTimeout(() => process.exit(0), 5000).unref();
});
