// The health and metrics endpoint: /healthz (the process is alive and serving), /readyz
// (informers synced and, when leading, every controller running; a standby is ready too and
// says so), /metrics (Prometheus text format).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Registry } from 'prom-client';
import type { Readiness } from './manager.ts';

export interface HealthServerOptions {
  readiness: () => Readiness;
  registry: Registry;
}

export function createHealthApp(opts: HealthServerOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const r = opts.readiness();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ok' : 'not ready', ...r });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(opts.registry.contentType).send(await opts.registry.metrics());
  });
  app.use((req, res) => {
    res.status(404).json({ error: { code: 'NotFound', message: `no route for ${req.method} ${req.path}` } });
  });
  return app;
}

/** `host:port`, `:port` (all interfaces) or `port`. */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(addr.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`listen address "${addr}" is not host:port, :port or port`);
  return { host: m[1] || '0.0.0.0', port };
}

export interface RunningServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function listen(app: express.Express, addr: string): Promise<RunningServer> {
  const { host, port } = parseListenAddress(addr);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
