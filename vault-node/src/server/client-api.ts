// The escrow API on the client port. Only the leader answers escrow requests: the OPAQUE login
// state and sessions live in the leader's HSM, and every decision is a committed log entry. A
// follower that receives a request forwards it once to the leader over the peer port, signed by
// its HSM identity and carrying the client's address (leader-forwarding.ts), so the leader's rate
// limit counts the client, not the follower. The leader answers forwarded requests without ever
// forwarding them again (503 when it is no longer the leader, so a client retries).
//
// Nothing a client sends can change whom the rate limit counts: the limit is keyed on the socket's
// address here, and on the address an authenticated member vouches for on the peer port. The old
// x-keyfleet-forwarded-by header means nothing to this member any more (it still sends it to a
// leader of the previous version during a rolling update: leader-forwarding.ts).
import type { IncomingMessage } from 'node:http';
import { ESCROW_PATHS } from '@keyfleet/sdk/backup/wire';
import type { NextFunction, Request, Response } from 'express';
import { type EscrowService, handleEscrowRequest } from '../escrow/index.ts';
import { NotLeaderError, ProposalDroppedError, RaftTimeoutError } from '../raft/node/errors.ts';
import type { Logger } from '../raft/node/logger.ts';
import type { RaftNode } from '../raft/node/raft-node.ts';
import type { EscrowMetrics } from './escrow-metrics.ts';
import { bodyErrors, newApp, sendError, writeJson } from './http.ts';
import type { ForwardedAnswer, LeaderForwarding } from './leader-forwarding.ts';
import { SourceRateLimiter } from './rate-limit.ts';

/** Larger escrow request bodies are answered 413 (the largest valid one is under 1 KiB). */
const MAX_BODY_BYTES = 8 * 1024;

/** Client requests per second (and burst) one client address may make, wherever it enters the fleet. */
export function clientRateLimiter(): SourceRateLimiter {
  return new SourceRateLimiter({ ratePerSecond: 50, burst: 100 });
}

export interface EscrowEndpointDeps {
  readonly memberId: string;
  readonly node: () => RaftNode | null;
  readonly escrow: () => EscrowService | null;
  readonly metrics: EscrowMetrics;
  readonly log: Logger;
  /** Keyed by client address; the client API and the forwarded-request route share one. */
  readonly rateLimiter: SourceRateLimiter;
}

export interface ClientApiDeps extends EscrowEndpointDeps {
  /** Present once Raft runs (it needs the peer authenticator). */
  readonly forwarding: () => LeaderForwarding | null;
}

const escrowPaths = new Set<string>(Object.values(ESCROW_PATHS));

const error = (status: number, code: string, message: string): ForwardedAnswer => ({
  status,
  body: { error: { code, message } },
});

export const RATE_LIMITED = error(429, 'rate-limited', 'too many requests from this source; slow down');

/**
 * What this member answers an escrow request itself, or which leader it should go to. `forwarded`
 * requests (already one hop from a follower) are never sent on.
 */
export async function answerEscrow(
  d: EscrowEndpointDeps,
  path: string,
  body: unknown,
  forwarded: boolean,
): Promise<ForwardedAnswer | { readonly forwardTo: string }> {
  if (!escrowPaths.has(path)) return error(404, 'not-found', `no escrow endpoint ${path}`);
  const node = d.node();
  const escrow = d.escrow();
  if (!node || !escrow) return error(503, 'unavailable', 'this member is still starting; retry shortly');
  const { leader } = node.status();
  if (leader !== d.memberId) {
    if (forwarded || leader === null) {
      return error(503, 'no-leader', 'no leader is reachable right now; retry shortly');
    }
    return { forwardTo: leader };
  }
  try {
    return await handleEscrowRequest(escrow, path, body);
  } catch (e) {
    if (e instanceof NotLeaderError || e instanceof ProposalDroppedError) {
      return error(503, 'no-leader', 'leadership changed; retry shortly');
    }
    if (e instanceof RaftTimeoutError)
      return error(503, 'timeout', 'the fleet did not commit in time; retry');
    d.log('error', 'escrow request failed', { path, error: e instanceof Error ? e.message : String(e) });
    return error(500, 'internal', 'internal error');
  }
}

export function clientApi(d: ClientApiDeps) {
  const app = newApp();
  app.use((req, res, next) => {
    if (!d.rateLimiter.take(clientAddress(req)))
      return res.status(RATE_LIMITED.status).json(RATE_LIMITED.body);
    next();
  });
  app.use(escrowRequests(d));
  app.use((_req, res) => sendError(res, 404, 'not-found', 'no such endpoint'));
  app.use(bodyErrors);
  return app;
}

/** The client as this member's socket sees it; nothing in the request can change it. */
export function clientAddress(req: Request): string {
  return req.socket.remoteAddress ?? 'unknown';
}

const BODY_ERRORS = {
  tooLarge: [413, 'too-large', 'request body too large'],
  notJson: [400, 'invalid-request', 'request body is not a JSON object'],
  encoding: [415, 'unsupported-encoding', 'send the body as JSON text in UTF-8, without content-encoding'],
} as const;

/** The request's JSON body (at most MAX_BODY_BYTES, UTF-8, an object or array), or why not. */
function readJsonBody(
  req: IncomingMessage,
): Promise<{ body: unknown } | { error: keyof typeof BODY_ERRORS }> {
  const encoding = req.headers['content-encoding'];
  const charset = /;\s*charset=([^;\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.replace(/"/g, '');
  if ((encoding && encoding.toLowerCase() !== 'identity') || (charset && !/^utf-?8$/i.test(charset))) {
    req.resume();
    return Promise.resolve({ error: 'encoding' });
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve({ error: 'tooLarge' });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return resolve({ error: 'tooLarge' });
      if (size === 0) return resolve({ body: {} });
      try {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
        // As express.json({strict: true}): only an object or an array at the top.
        if (!/^[\s]*[{[]/.test(text)) return resolve({ error: 'notJson' });
        resolve({ body: JSON.parse(text) });
      } catch {
        resolve({ error: 'notJson' });
      }
    });
  });
}

/**
 * POST /v1/escrow/...: read, decide (answerEscrow) or forward, and answer, with plain node:http
 * calls. Not express.json() and res.json(): on a busy leader they were about a tenth of the main
 * thread (profile of test/bench/vault.ts), and the main thread is what every recovery of the
 * fleet waits for. Bodies: at most 8 KiB (413), UTF-8 JSON object or array (400), no
 * content-encoding (415). Other paths go on to express.
 */
function escrowRequests(d: ClientApiDeps) {
  const handle = async (req: Request, res: Response): Promise<void> => {
    const path = req.path;
    const started = performance.now();
    const answer = (a: ForwardedAnswer, countOutcome = true) => {
      d.metrics.observe(path, a.status, (performance.now() - started) / 1000, countOutcome);
      writeJson(res, a.status, a.body);
    };
    const read = await readJsonBody(req);
    if ('error' in read) {
      const [status, code, message] = BODY_ERRORS[read.error];
      return writeJson(res, status, { error: { code, message } });
    }
    const decided = await answerEscrow(d, path, read.body, false);
    if (!('forwardTo' in decided)) return answer(decided);
    const forwarding = d.forwarding();
    if (!forwarding) return answer(error(503, 'unavailable', 'this member is still starting; retry shortly'));
    try {
      // Outcomes of forwarded requests are counted by the leader that decided them.
      answer(await forwarding.send(decided.forwardTo, clientAddress(req), path, read.body), false);
    } catch (e) {
      d.log('warn', 'forwarding to the leader failed', {
        leader: decided.forwardTo,
        error: e instanceof Error ? e.message : String(e),
      });
      answer(error(503, 'no-leader', 'the leader could not be reached; retry shortly'));
    }
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST' || !req.path.startsWith('/v1/escrow/')) return next();
    handle(req, res).catch(next);
  };
}
