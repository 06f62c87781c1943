// An express app for one directory-node role: its routers plus /healthz, /readyz and /metrics,
// strict JSON body limits and the common error shape.
import express, { type Router } from 'express';
import type { Registry } from 'prom-client';
import { errorHandler, notFoundHandler } from './http.ts';

export const MAX_BODY_BYTES = 16 * 1024;

export type AppOptions = {
  readonly routers: readonly Router[];
  readonly registry: Registry;
  /** undefined when ready, otherwise why not */
  readonly notReadyReason: () => string | undefined;
  readonly log: (message: string, fields: Record<string, unknown>) => void;
};

export function createApp(o: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(express.json({ limit: MAX_BODY_BYTES, strict: true }));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const reason = o.notReadyReason();
    if (reason === undefined) res.json({ status: 'ready' });
    else res.status(503).json({ error: { code: 'not_ready', message: reason } });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(o.registry.contentType).send(await o.registry.metrics());
  });
  for (const r of o.routers) app.use(r);
  app.use(notFoundHandler);
  app.use(errorHandler(o.log));
  return app;
}
