// The one seam between the runtime and the API server. Everything above it (client, informers,
// leader election, events) speaks ApiRequest; tests put an in-memory fake API server here.
//
// The real transport sends requests through @kubernetes/client-node: its KubeConfig does the
// authentication (kubeconfig, in-cluster token, exec plugins, client certs) and its fetch-based
// HTTP library does the I/O. We do not use client-node's Watch/ListWatch for the watch stream:
// ListWatch stops for good after any error other than 410 (it only calls error handlers), has
// no jittered backoff, no resync, no indexes, no hasSynced and no paginated list, and its update
// handler gets no old object; Watch reports a 410 only as an event and hides the Status body of
// other failures. The informer needs all of that, so it reads the stream itself here.
import { IsomorphicFetchHttpLibrary, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { ApiError, type StatusBody } from './errors.ts';

export type HttpVerb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiRequest {
  method: HttpVerb;
  path: string;
  query?: Record<string, string | undefined>;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
  /** Client-side deadline for the whole request (unary) or the whole stream (watch). */
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  body: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T = unknown> {
  type: WatchEventType;
  object: T;
}

export interface ApiTransport {
  request(req: ApiRequest): Promise<ApiResponse>;
  /**
   * Opens a watch (the caller sets `watch=true` and the resourceVersion) and yields its events
   * until the server ends the stream. Throws ApiError when the server refuses the watch.
   */
  watch(req: ApiRequest): AsyncIterable<WatchEvent>;
}

export const defaultRequestTimeoutMs = 30_000;

/** Newline-delimited JSON from a byte stream; a torn line at the end of a stream is dropped. */
export async function* jsonLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of chunks) {
    pending += decoder.decode(chunk, { stream: true });
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') yield JSON.parse(line);
      nl = pending.indexOf('\n');
    }
  }
}

export function toWatchEvent(raw: unknown, what: string): WatchEvent {
  const ev = raw as { type?: string; object?: unknown };
  switch (ev?.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
    case 'BOOKMARK':
    case 'ERROR':
      return { type: ev.type, object: ev.object };
    default:
      throw new ApiError(500, `${what}: unexpected watch event type ${JSON.stringify(ev?.type)}`);
  }
}

export class KubeConfigTransport implements ApiTransport {
  readonly #kc: KubeConfig;
  readonly #http = new IsomorphicFetchHttpLibrary();

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  async #send(req: ApiRequest, signal: AbortSignal) {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster: set a context or run in-cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), req.method);
    await this.#kc.applySecurityAuthentication(ctx);
    ctx.setHeaderParam('Accept', 'application/json');
    if (req.body !== undefined) {
      ctx.setHeaderParam('Content-Type', req.contentType ?? 'application/json');
      ctx.setBody(req.body);
    }
    ctx.setSignal(signal);
    return this.#http.send(ctx).toPromise();
  }

  #signal(req: ApiRequest, fallbackMs: number): AbortSignal {
    const timeout = AbortSignal.timeout(req.timeoutMs ?? fallbackMs);
    return req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    const signal = this.#signal(req, defaultRequestTimeoutMs);
    const res = await this.#send(req, signal);
    return { status: res.httpStatusCode, body: await res.body.text() };
  }

  async *watch(req: ApiRequest): AsyncGenerator<WatchEvent> {
    const what = `watch ${req.path}`;
    const stop = new AbortController();
    const signal = AbortSignal.any([this.#signal(req, 15 * 60_000), stop.signal]);
    try {
      const res = await this.#send(req, signal);
      if (res.httpStatusCode !== 200) {
        throw ApiError.fromResponse(res.httpStatusCode, await res.body.text(), what);
      }
      const stream = res.body.stream();
      if (!stream) return;
      for await (const raw of jsonLines(stream as AsyncIterable<Uint8Array>)) yield toWatchEvent(raw, what);
    } catch (err) {
      // An abort we asked for (the consumer stopped, or its signal fired) is a normal end.
      if (stop.signal.aborted || req.signal?.aborted) return;
      throw err;
    } finally {
      stop.abort();
    }
  }
}

export type { StatusBody };
