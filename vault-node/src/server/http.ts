// What every vault HTTP surface shares: errors as {error: {code, message}}, JSON bodies with a
// size cap (413) and a parse check (400), and a final handler that never leaks internals.
import type { ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Response } from 'express';

export function sendError(
  res: Response,
  status: number,
  code: string,
  message: string,
  extra?: object,
): void {
  res.status(status).json({ error: { code, message }, ...extra });
}

/**
 * Writes `body` as a JSON answer with plain node:http calls: on hot paths (escrow requests and
 * their forwards) express's res.json() cost more than the rest of the answer (content-type
 * negotiation and a mime lookup per response).
 */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

export const bodyErrors: ErrorRequestHandler = (error, _req, res, next) => {
  const e = error as { type?: string; status?: number; message?: string };
  if (res.headersSent) return next(error);
  if (e.type === 'entity.too.large') return sendError(res, 413, 'too-large', 'request body too large');
  if (error instanceof SyntaxError)
    return sendError(res, 400, 'invalid-request', 'request body is not a JSON object');
  if (e.type === 'entity.parse.failed')
    return sendError(res, 400, 'invalid-request', 'request body is not valid JSON');
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return sendError(res, e.status, 'invalid-request', 'malformed request');
  }
  return sendError(res, 500, 'internal', 'internal error');
};

export function newApp(): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  return app;
}
