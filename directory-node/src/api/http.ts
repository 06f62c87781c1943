// HTTP plumbing shared by the directory's servers: the `{error:{code,message}}` shape, a
// final error handler that never leaks internals, and a JSON 404.
import type { ErrorRequestHandler, RequestHandler } from 'express';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new HttpError(400, code, message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: `no route for ${req.method} ${req.path}` } });
};

/** Maps body-parser errors to 4xx, HttpErrors to themselves, anything else to a bare 500. */
export function errorHandler(
  log: (message: string, fields: Record<string, unknown>) => void,
): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: { code: err.code, message: err.message } });
      return;
    }
    const status =
      typeof err?.status === 'number'
        ? err.status
        : typeof err?.statusCode === 'number'
          ? err.statusCode
          : 500;
    if (status >= 400 && status < 500) {
      const code =
        err?.type === 'entity.too.large'
          ? 'body_too_large'
          : err?.type === 'entity.parse.failed'
            ? 'malformed_json'
            : 'invalid_request';
      const message =
        code === 'body_too_large'
          ? 'request body is too large'
          : code === 'malformed_json'
            ? 'request body is not valid JSON'
            : 'invalid request';
      res.status(status).json({ error: { code, message } });
      return;
    }
    log('http.error', {
      method: req.method,
      path: req.path,
      error: err instanceof Error ? err.message : String(err),
    });
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
}
