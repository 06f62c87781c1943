// The escrow API on the client port. Only the leader answers escrow requests: the OPAQUE login
// state and sessions live in the leader's HSM, and every decision is a committed log entry. A
// follower that receives a request forwards it once to the leader's client address (clients reach
// any member through the Service); a forwarded request that lands on a non-leader is answered 503
// so a client retries instead of requests bouncing between members.
import { ESCROW_PATHS } from '@keyfleet/sdk/backup/wire';
import type { Request, Response } from 'express';
import { type EscrowService, handleEscrowRequest } from '../escrow/index.ts';
import { NotLeaderError, ProposalDroppedError, RaftTimeoutError } from '../raft/node/errors.ts';
import type { Logger } from '../raft/node/logger.ts';
import type { RaftNode } from '../raft/node/raft-node.ts';
import type { EscrowMetrics } from './escrow-metrics.ts';
import { bodyErrors, jsonBody, newApp, sendError } from './http.ts';
import { SourceRateLimiter } from './rate-limit.ts';

export const FORWARDED_HEADER = 'x-keyfleet-forwarded-by';
const MAX_BODY = '8kb';
const FORWARD_TIMEOUT_MS = 15_000;

export interface ClientApiDeps {
  readonly memberId: string;
  readonly node: () => RaftNode | null;
  readonly escrow: () => EscrowService | null;
  readonly clientUrlOf: (member: string) => string;
  readonly metrics: EscrowMetrics;
  readonly log: Logger;
  readonly rateLimiter?: SourceRateLimiter;
}

const escrowPaths = new Set<string>(Object.values(ESCROW_PATHS));

export function clientApi(d: ClientApiDeps) {
  const app = newApp();
  const limiter = d.rateLimiter ?? new SourceRateLimiter({ ratePerSecond: 50, burst: 100 });
  app.use((req, res, next) => {
    const source = `${req.get(FORWARDED_HEADER) ? 'forwarded:' : ''}${req.socket.remoteAddress ?? 'unknown'}`;
    if (!limiter.take(source))
      return sendError(res, 429, 'rate-limited', 'too many requests from this source; slow down');
    next();
  });
  app.post('/v1/escrow/*path', jsonBody(MAX_BODY), async (req: Request, res: Response) => {
    const path = req.path;
    const started = performance.now();
    const answer = (status: number, body: unknown, countOutcome = true) => {
      d.metrics.observe(path, status, (performance.now() - started) / 1000, countOutcome);
      res.status(status).json(body);
    };
    if (!escrowPaths.has(path))
      return answer(404, { error: { code: 'not-found', message: `no escrow endpoint ${path}` } });
    const node = d.node();
    const escrow = d.escrow();
    if (!node || !escrow) {
      return answer(503, {
        error: { code: 'unavailable', message: 'this member is still starting; retry shortly' },
      });
    }
    const status = node.status();
    if (status.leader !== d.memberId) {
      if (req.get(FORWARDED_HEADER) || status.leader === null) {
        return answer(503, {
          error: { code: 'no-leader', message: 'no leader is reachable right now; retry shortly' },
        });
      }
      return forward(d, path, req.body, status.leader, answer);
    }
    try {
      const response = await handleEscrowRequest(escrow, path, req.body);
      answer(response.status, response.body);
    } catch (e) {
      if (e instanceof NotLeaderError || e instanceof ProposalDroppedError) {
        return answer(503, { error: { code: 'no-leader', message: 'leadership changed; retry shortly' } });
      }
      if (e instanceof RaftTimeoutError) {
        return answer(503, {
          error: { code: 'timeout', message: 'the fleet did not commit in time; retry' },
        });
      }
      d.log('error', 'escrow request failed', { path, error: e instanceof Error ? e.message : String(e) });
      answer(500, { error: { code: 'internal', message: 'internal error' } });
    }
  });
  app.use((_req, res) => sendError(res, 404, 'not-found', 'no such endpoint'));
  app.use(bodyErrors);
  return app;
}

async function forward(
  d: ClientApiDeps,
  path: string,
  body: unknown,
  leader: string,
  answer: (status: number, body: unknown, countOutcome?: boolean) => void,
): Promise<void> {
  try {
    const res = await fetch(d.clientUrlOf(leader) + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: d.memberId },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
    const text = await res.text();
    answer(res.status, text === '' ? null : JSON.parse(text), false);
  } catch (e) {
    d.log('warn', 'forwarding to the leader failed', {
      leader,
      error: e instanceof Error ? e.message : String(e),
    });
    answer(503, { error: { code: 'no-leader', message: 'the leader could not be reached; retry shortly' } });
  }
}
