// The admin port: probes and preStop (unauthenticated, as the kubelet calls them), and the
// operator's signed calls (status, membership changes, leadership transfer, identity provisioning).
// A signed call without a valid, fresh, unreplayed signature under the operator admin key is 401
// and changes nothing.
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import type { AdminVerifier } from '@keyfleet/sdk/vault/admin-signature';
import {
  ADMIN_AUTH_SCHEME,
  ADMIN_NONCE_HEADER,
  ADMIN_TIMESTAMP_HEADER,
  type AdminStatus,
  HttpPath,
  type MembershipChangeKind,
} from '@keyfleet/sdk/vault/contract';
import express, { type NextFunction, type Request, type Response } from 'express';
import { FLEET_SECRET_SLOT, type SoftwareHsm } from '../hsm/index.ts';
import { NotLeaderError } from '../raft/node/errors.ts';
import type { RaftNode } from '../raft/node/raft-node.ts';
import type { MemberId } from '../raft/types.ts';
import { bodyErrors, newApp, sendError } from './http.ts';
import { type Readiness, waitUntilSafeToStop } from './member-health.ts';
import { hasFleetSecret } from './member-hsm.ts';
import { ChangeInFlightError, PendingChangeTracker } from './pending-change.ts';
import { SourceRateLimiter } from './rate-limit.ts';

const MAX_ADMIN_BODY = 8 * 1024;

export interface AdminApiDeps {
  readonly hsm: SoftwareHsm;
  readonly zone: string;
  readonly node: () => RaftNode | null;
  readonly readiness: () => Readiness;
  readonly verifier: AdminVerifier;
  readonly peerUrlOf: (member: MemberId) => string;
  /** Called once the certificate is installed: the member may join Raft traffic from then on. */
  readonly onCertificate: () => void;
}

function signed(verifier: AdminVerifier) {
  return (req: Request, res: Response, next: NextFunction) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const auth = req.get('authorization') ?? '';
    const [scheme, signature] = auth.split(' ');
    const verdict =
      scheme === ADMIN_AUTH_SCHEME
        ? verifier.verify(
            req.method,
            req.baseUrl + req.path,
            body,
            req.get(ADMIN_TIMESTAMP_HEADER),
            signature,
            req.get(ADMIN_NONCE_HEADER),
          )
        : ({ ok: false, reason: `expected Authorization: ${ADMIN_AUTH_SCHEME} <signature>` } as const);
    if (!verdict.ok) return sendError(res, 401, 'unauthenticated', verdict.reason);
    next();
  };
}

function parseJson(req: Request): Record<string, unknown> {
  const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  const value: unknown = text === '' ? {} : JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new SyntaxError('not an object');
  return value as Record<string, unknown>;
}

export function adminApi(d: AdminApiDeps) {
  const app = newApp();
  const stopLimiter = new SourceRateLimiter({ ratePerSecond: 1, burst: 5 });
  const changes = new PendingChangeTracker();
  app.get(HttpPath.healthz, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(HttpPath.readyz, (_req, res) => {
    const r = d.readiness();
    if (r.ready) res.json({ status: 'ok' });
    else sendError(res, 503, 'not-ready', r.reason);
  });
  app.get(HttpPath.prepareStop, async (req, res) => {
    if (!stopLimiter.take('prepare-stop'))
      return sendError(res, 429, 'rate-limited', 'prepare-stop is rate-limited');
    const timeoutSeconds = Math.min(300, Math.max(1, Number(req.query.timeoutSeconds ?? 50) || 50));
    const node = d.node();
    if (!node) return res.json({ status: 'ok' }); // not in Raft yet: leaving costs nothing
    const verdict = await waitUntilSafeToStop(node, timeoutSeconds * 1000);
    if (verdict.safe) res.json({ status: 'ok' });
    else sendError(res, 503, 'quorum_not_safe', verdict.reason);
  });

  const raw = express.raw({ type: () => true, limit: MAX_ADMIN_BODY });
  app.use('/v1/admin', raw, signed(d.verifier));
  app.get(HttpPath.adminStatus, (_req, res) => {
    const node = d.node();
    const st = node?.status();
    const cert = d.hsm.certificate();
    const status: AdminStatus = {
      member: d.hsm.memberId,
      zone: d.zone,
      role: st?.role ?? 'unknown',
      leader: st?.leader ?? null,
      term: st?.term ?? 0,
      commitIndex: st?.commit ?? 0,
      appliedIndex: st?.applied ?? 0,
      membership: st?.membership ?? { voters: [], learners: [] },
      pendingChange: changes.current(node),
      progress: st?.progress
        ? Object.fromEntries(Object.entries(st.progress).map(([m, p]) => [m, { matchIndex: p.match }]))
        : null,
      hsmKeyId: cert
        ? Buffer.from(decodeCertificate(cert).identityPublicKey).toString('hex').slice(0, 16)
        : null,
      ready: d.readiness().ready,
      opaqueServerPublicKey: hasFleetSecret(d.hsm)
        ? Buffer.from(d.hsm.publicKey(FLEET_SECRET_SLOT)).toString('hex')
        : null,
    };
    res.json(status);
  });
  app.get(HttpPath.identityRequest, (_req, res) => {
    res.json({ request: Buffer.from(d.hsm.certificateRequest(d.zone)).toString('base64url') });
  });
  app.post(HttpPath.identityCertificate, async (req, res) => {
    const body = parseJson(req);
    if (typeof body.certificate !== 'string' || !/^[A-Za-z0-9_-]{1,4096}$/.test(body.certificate)) {
      return sendError(res, 400, 'invalid-request', 'body must be {"certificate": base64url}');
    }
    try {
      await d.hsm.installCertificate(new Uint8Array(Buffer.from(body.certificate, 'base64url')));
    } catch (e) {
      return sendError(res, 422, 'certificate-refused', e instanceof Error ? e.message : String(e));
    }
    d.onCertificate();
    res.json({ status: 'ok' });
  });
  app.post(HttpPath.adminMembership, async (req, res) => {
    const node = d.node();
    if (!node) return sendError(res, 503, 'unavailable', 'this member has not joined Raft yet');
    const body = parseJson(req);
    const member = body.member;
    if (typeof member !== 'string' || !/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(member)) {
      return sendError(res, 400, 'invalid-request', 'member must be a member id');
    }
    const proposals: Record<MembershipChangeKind, () => Promise<void>> = {
      'add-learner': () => node.addLearner(member, d.peerUrlOf(member)),
      promote: () => node.promote(member),
      remove: () => node.remove(member),
    };
    if (typeof body.kind !== 'string' || !Object.hasOwn(proposals, body.kind)) {
      return sendError(res, 400, 'invalid-request', 'kind must be add-learner, promote or remove');
    }
    const kind = body.kind as MembershipChangeKind;
    try {
      await changes.run(node, kind, member, proposals[kind]);
      res.json({ status: 'ok', membership: node.status().membership });
    } catch (e) {
      if (e instanceof NotLeaderError)
        return sendError(res, 421, 'not-leader', e.message, { leader: e.leaderId });
      if (e instanceof ChangeInFlightError)
        return sendError(res, 409, 'change-pending', e.message, { pendingChange: e.pending });
      sendError(res, 409, 'membership-change-refused', e instanceof Error ? e.message : String(e));
    }
  });
  app.post(HttpPath.adminTransferLeadership, async (req, res) => {
    const node = d.node();
    if (!node) return sendError(res, 503, 'unavailable', 'this member has not joined Raft yet');
    const to = parseJson(req).to;
    if (typeof to !== 'string')
      return sendError(res, 400, 'invalid-request', 'body must be {"to": member id}');
    // Leadership can only go to a voter; anything else would wait out the transfer timeout (504).
    if (!node.status().membership.voters.includes(to)) {
      return sendError(
        res,
        400,
        'invalid-request',
        `"to" must be a voter of this fleet, got ${JSON.stringify(to.slice(0, 64))}`,
      );
    }
    try {
      await node.transferLeadership(to);
      res.json({ status: 'ok', leader: to });
    } catch (e) {
      if (e instanceof NotLeaderError)
        return sendError(res, 421, 'not-leader', e.message, { leader: e.leaderId });
      sendError(res, 504, 'transfer-failed', e instanceof Error ? e.message : String(e));
    }
  });
  app.use((_req, res) => sendError(res, 404, 'not-found', 'no such endpoint'));
  app.use(bodyErrors);
  return app;
}
