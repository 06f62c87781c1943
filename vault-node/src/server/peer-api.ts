// The peer port: Raft messages (the transport's own routes, signed by the members' HSM identity
// keys), this member's certificate for peers to verify, the fleet secret sealed to a certified
// member that asks for it, and client requests followers forward to the leader (signed the same way).
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import express, { type Router } from 'express';
import { FLEET_SECRET_SLOT, type SoftwareHsm } from '../hsm/index.ts';
import type { Logger } from '../raft/node/logger.ts';
import { type ForwardedRouteDeps, forwardedRoute } from './forwarded-route.ts';
import { bodyErrors, newApp, sendError } from './http.ts';
import { hasFleetSecret } from './member-hsm.ts';
import { SourceRateLimiter } from './rate-limit.ts';

export interface PeerApiDeps {
  readonly hsm: SoftwareHsm;
  /** The Raft transport's router, once Raft runs. */
  readonly raft: () => Router | null;
  readonly log: Logger;
  /** Forwarded client requests; without it this member refuses them (404). */
  readonly forwarded?: ForwardedRouteDeps;
}

export function peerApi(d: PeerApiDeps) {
  const app = newApp();
  const secretLimiter = new SourceRateLimiter({ ratePerSecond: 2, burst: 10 });
  app.use((req, res, next) => {
    const router = d.raft();
    if (router) return router(req, res, next);
    if (req.path.startsWith('/raft/')) return sendError(res, 503, 'unavailable', 'Raft not started yet');
    next();
  });
  app.get(HttpPath.peerIdentity, (_req, res) => {
    const certificate = d.hsm.certificate();
    if (!certificate) return sendError(res, 503, 'unavailable', 'no certificate installed yet');
    res.type('application/octet-stream').send(Buffer.from(certificate));
  });
  app.post(HttpPath.peerFleetSecret, express.raw({ type: () => true, limit: 4096 }), (req, res) => {
    if (!secretLimiter.take(req.socket.remoteAddress ?? 'unknown')) {
      return sendError(res, 429, 'rate-limited', 'too many fleet secret requests');
    }
    if (!hasFleetSecret(d.hsm))
      return sendError(res, 503, 'unavailable', 'this member does not hold the fleet secret yet');
    const certificate = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array();
    try {
      // exportFleetSecret verifies the chain (CA, this fleet, another member) before sealing to it.
      const envelope = d.hsm.exportFleetSecret(FLEET_SECRET_SLOT, certificate);
      res.type('application/octet-stream').send(Buffer.from(envelope));
    } catch (e) {
      d.log('warn', 'fleet secret request refused', { reason: e instanceof Error ? e.message : String(e) });
      sendError(res, 403, 'refused', 'the certificate does not verify for a member of this fleet');
    }
  });
  if (d.forwarded) app.post(HttpPath.peerForward, ...forwardedRoute(d.forwarded));
  app.use((_req, res) => sendError(res, 404, 'not-found', 'no such endpoint'));
  app.use(bodyErrors);
  return app;
}
