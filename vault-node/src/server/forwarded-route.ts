// The leader's end of forwarded client requests, on the peer port: POST /v1/fleet/forward with a
// body signed by the forwarding member's HSM identity (leader-forwarding.ts). Only once the
// signature, recipient and counter check out is the client address inside believed; the request
// then takes a token from that client's bucket, the same bucket the client API uses for the
// client's direct requests, and is answered as the client API would, never forwarded again.
//
// Answers: 200 {status, body} with what the client gets (including 429 and 503); 4xx JSON errors
// only when the forward itself is refused (the follower then tells its client to retry).
import express, { type Request, type Response } from 'express';
import type { Logger } from '../raft/node/logger.ts';
import { answerEscrow, type EscrowEndpointDeps, RATE_LIMITED } from './client-api.ts';
import { type ForwardedRequest, MAX_FORWARDED_BODY_BYTES } from './forwarded-request.ts';
import { sendError, writeJson } from './http.ts';
import { ForwardRefusedError, type LeaderForwarding } from './leader-forwarding.ts';

export interface ForwardedRouteDeps extends EscrowEndpointDeps {
  readonly forwarding: () => LeaderForwarding | null;
  readonly log: Logger;
}

export function forwardedRoute(d: ForwardedRouteDeps) {
  const raw = express.raw({ type: () => true, limit: MAX_FORWARDED_BODY_BYTES });
  const handle = async (req: Request, res: Response) => {
    const forwarding = d.forwarding();
    if (!forwarding) return sendError(res, 503, 'unavailable', 'Raft not started yet');
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array();
    let request: ForwardedRequest;
    try {
      request = await forwarding.open(body);
    } catch (e) {
      if (!(e instanceof ForwardRefusedError)) throw e;
      // Anyone can reach the peer port: counted, and logged only at debug level.
      d.metrics.forwardsRefused.inc({ reason: e.code });
      d.log('debug', 'forwarded request refused', { reason: e.message });
      return sendError(res, e.status, e.code, e.message);
    }
    const started = performance.now();
    const reply = (status: number, answerBody: unknown) => {
      d.metrics.observe(request.path, status, (performance.now() - started) / 1000, true);
      writeJson(res, 200, { status, body: answerBody });
    };
    if (!d.rateLimiter.take(request.client)) return reply(RATE_LIMITED.status, RATE_LIMITED.body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.requestJson));
    } catch {
      return reply(400, { error: { code: 'invalid-request', message: 'request body is not valid JSON' } });
    }
    const answer = await answerEscrow(d, request.path, parsed, true);
    if ('forwardTo' in answer) throw new Error('a forwarded request is never forwarded again');
    reply(answer.status, answer.body);
  };
  return [
    raw,
    (req: Request, res: Response, next: express.NextFunction) => handle(req, res).catch(next),
  ] as const;
}
