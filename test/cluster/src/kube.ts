// A small Kubernetes REST client on node:https with client-certificate auth: what the harness and
// the node agent need (get/list/create/patch/delete, watch with resourceVersion), nothing more.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { apiserverUrl } from './config.ts';
import { type CertFiles, pki } from './pki.ts';

export type Obj = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    creationTimestamp?: string;
    ownerReferences?: unknown[];
    finalizers?: string[];
    generateName?: string;
  };
};

export class ApiError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, method: string, path: string, body: string) {
    let msg = body;
    try {
      msg = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not a Status object
    }
    super(`${method} ${path}: ${status} ${msg}`);
    this.status = status;
    this.body = body;
  }
}

export interface WatchEvent<T = Obj> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

const MAX_BODY = 64 * 1024 * 1024;

export class Kube {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(creds: CertFiles = pki.cert('admin'), server = apiserverUrl) {
    this.base = new URL(server);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: readFileSync(pki.ca.cert),
      cert: readFileSync(creds.cert),
      key: readFileSync(creds.key),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  async raw(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.base.hostname,
          port: this.base.port,
          method,
          path,
          // Content-Length always: Node sends no chunked framing for DELETE, so a body without it would
          // be read by the server as the next request on the kept-alive socket.
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) req.destroy(new Error(`${method} ${path}: response over ${MAX_BODY} bytes`));
            else chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async call<T = Obj>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.raw(method, path, body, contentType);
    if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, method, path, res.text);
    return (res.text ? JSON.parse(res.text) : {}) as T;
  }

  get<T = Obj>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  async getOrUndefined<T = Obj>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }
  list<T = Obj>(path: string): Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
    return this.call('GET', path);
  }
  create<T = Obj>(path: string, obj: unknown): Promise<T> {
    return this.call<T>('POST', path, obj);
  }
  mergePatch<T = Obj>(path: string, patch: unknown): Promise<T> {
    return this.call<T>('PATCH', path, patch, 'application/merge-patch+json');
  }
  /** Server-side apply (create or update) of a whole object as field manager `keyfleet-harness`. */
  apply<T = Obj>(path: string, obj: unknown): Promise<T> {
    return this.call<T>(
      'PATCH',
      `${path}?fieldManager=keyfleet-harness&force=true`,
      obj,
      'application/apply-patch+yaml',
    );
  }
  async delete(path: string, body?: unknown): Promise<boolean> {
    try {
      await this.call('DELETE', path, body);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return false;
      throw e;
    }
  }

  /**
   * Watches `path` from `resourceVersion`, calling `onEvent` for each event until `signal` aborts or
   * the server ends the stream; resolves with the last resourceVersion seen (the caller re-lists on 410).
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<string> {
    const sep = path.includes('?') ? '&' : '?';
    const full = `${path}${sep}watch=true&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&timeoutSeconds=300`;
    let last = resourceVersion;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.base.hostname,
          port: this.base.port,
          method: 'GET',
          path: full,
          signal,
        },
        (res) => {
          if (res.statusCode !== 200) {
            let text = '';
            res.on('data', (c: Buffer) => {
              text += c.toString();
            });
            res.on('end', () => reject(new ApiError(res.statusCode ?? 0, 'WATCH', path, text)));
            return;
          }
          let buf = '';
          res.on('data', (c: Buffer) => {
            buf += c.toString('utf8');
            if (buf.length > MAX_BODY) req.destroy(new Error('watch event too large'));
            let nl = buf.indexOf('\n');
            while (nl >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              nl = buf.indexOf('\n');
              if (!line.trim()) continue;
              const ev = JSON.parse(line) as WatchEvent;
              if (ev.type === 'ERROR') {
                const code = (ev.object as unknown as { code?: number }).code ?? 500;
                req.destroy();
                reject(new ApiError(code, 'WATCH', path, JSON.stringify(ev.object)));
                return;
              }
              const rv = ev.object.metadata?.resourceVersion;
              if (rv) last = rv;
              if (ev.type !== 'BOOKMARK') onEvent(ev);
            }
          });
          res.on('end', () => resolve(last));
          res.on('error', (e) => (signal.aborted ? resolve(last) : reject(e)));
        },
      );
      req.on('error', (e) => (signal.aborted ? resolve(last) : reject(e)));
      req.end();
    });
  }
}

/**
 * Keeps `onEvent` fed with every object under `listPath` (list, then watch, re-list on 410 or
 * error) until `signal` aborts. `onSync` gets the full list after each (re-)list.
 */
export async function informer(
  kube: Kube,
  listPath: string,
  onEvent: (e: WatchEvent) => void,
  signal: AbortSignal,
  onSync?: (items: Obj[]) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const list = await kube.list(listPath);
      onSync?.(list.items);
      for (const item of list.items) onEvent({ type: 'ADDED', object: item });
      let rv = list.metadata.resourceVersion;
      while (!signal.aborted) rv = await kube.watch(listPath, rv, onEvent, signal);
    } catch (e) {
      if (signal.aborted) return;
      if (!(e instanceof ApiError && e.status === 410)) {
        process.stderr.write(`informer ${listPath}: ${(e as Error).message}\n`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}
