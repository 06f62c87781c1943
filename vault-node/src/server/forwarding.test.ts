// The client API and the peer port's forwarded-request route together, over loopback HTTP: a
// leader, a follower that forwards to it, and clients with distinct source addresses (127.0.0.x).
// The rate limit must follow the client through the follower, and nothing a client or a process
// without a certified identity sends may change whom the leader counts.
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import type { Express } from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EscrowService } from '../escrow/index.ts';
import { HsmAuthenticator } from '../hsm/authenticator.ts';
import { provisionFleet, type TestFleet } from '../hsm/testing.ts';
import type { RaftNode } from '../raft/node/raft-node.ts';
import { clientApi, type EscrowEndpointDeps } from './client-api.ts';
import { EscrowMetrics } from './escrow-metrics.ts';
import { encodeForwardedBody, encodeForwardedEnvelope } from './forwarded-request.ts';
import { newApp } from './http.ts';
import { LEGACY_FORWARDED_HEADER, LeaderForwarding } from './leader-forwarding.ts';
import { peerApi } from './peer-api.ts';
import { SourceRateLimiter } from './rate-limit.ts';

const LEADER = 'backups-dc1';
const FOLLOWER = 'backups-dc2';
const BURST = 3;
const PATH = '/v1/escrow/recover/start';

/** A forward of an empty recover start to the leader, from `from` on behalf of `client`. */
const forwardedEnvelope = (from: string, client: string) =>
  encodeForwardedEnvelope({
    from,
    to: LEADER,
    counter: Date.now() * 1000,
    client,
    path: PATH,
    requestJson: new TextEncoder().encode('{}'),
  });

let fleet: TestFleet;
const servers: Server[] = [];
let leaderClientUrl: string;
let leaderPeerUrl: string;
let followerClientUrl: string;
let leaderForwarding: LeaderForwarding;
let leaderMetrics: EscrowMetrics;
/** Whom the leader believes leads (the follower always believes dc1). */
let leaderView = LEADER;

function listen(app: Express): Promise<string> {
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => {
      servers.push(s);
      resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    });
  });
}

/** POST from a chosen loopback source address (fetch cannot pick one). */
function post(
  url: string,
  body: Uint8Array | string,
  o: { from?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        localAddress: o.from ?? '127.0.0.1',
        headers: { 'content-type': 'application/json', ...o.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const statuses = async (n: number, send: () => Promise<{ status: number }>) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
};

beforeAll(async () => {
  fleet = await provisionFleet(2, { distribute: false });
  const [l, f] = fleet.members;
  const leaderAuth = new HsmAuthenticator(l!.hsm);
  const followerAuth = new HsmAuthenticator(f!.hsm);
  leaderAuth.trust(f!.certificate);
  followerAuth.trust(l!.certificate);
  // dc1 leads; the escrow is never reached (every request body here is
  // refused by the strict parser with 400), so the answers show only what the rate limit let in.
  const nodeOf = (memberId: string) =>
    ({ status: () => ({ leader: memberId === LEADER ? leaderView : LEADER }) }) as unknown as RaftNode;
  const escrow = {} as EscrowService;
  const endpoint = (memberId: string, burst: number): EscrowEndpointDeps => ({
    memberId,
    node: () => nodeOf(memberId),
    escrow: () => escrow,
    metrics: new EscrowMetrics(new Registry()),
    log: () => {},
    rateLimiter: new SourceRateLimiter({ ratePerSecond: 0, burst }),
  });
  const isMember = (m: string) => m === LEADER || m === FOLLOWER;
  leaderForwarding = new LeaderForwarding({
    memberId: LEADER,
    authenticator: leaderAuth,
    peerUrlOf: () => '',
    isMember,
  });
  const leaderEndpoint = { ...endpoint(LEADER, BURST), forwarding: () => leaderForwarding };
  leaderMetrics = leaderEndpoint.metrics;
  leaderClientUrl = await listen(clientApi(leaderEndpoint));
  leaderPeerUrl = await listen(
    peerApi({ hsm: l!.hsm, raft: () => null, log: () => {}, forwarded: leaderEndpoint }),
  );
  const followerForwarding = new LeaderForwarding({
    memberId: FOLLOWER,
    authenticator: followerAuth,
    peerUrlOf: () => leaderPeerUrl,
    isMember,
  });
  // The follower's own limit is generous: what is tested is the leader's.
  followerClientUrl = await listen(
    clientApi({ ...endpoint(FOLLOWER, 1000), forwarding: () => followerForwarding }),
  );
});
afterAll(async () => {
  for (const s of servers) s.close();
  await fleet.cleanup();
});

describe('rate limits of forwarded client requests', () => {
  it('count each client through a follower, in the same bucket as its direct requests', async () => {
    // Client A: its burst through the follower, then refused there, and refused directly too.
    const a = () => post(followerClientUrl + PATH, '{}', { from: '127.0.0.11' });
    expect(await statuses(BURST + 1, a)).toEqual([400, 400, 400, 429]);
    expect((await post(leaderClientUrl + PATH, '{}', { from: '127.0.0.11' })).status).toBe(429);
    // Client B behind the same follower has its own bucket (before: the follower's shared one).
    const b = () => post(followerClientUrl + PATH, '{}', { from: '127.0.0.12' });
    expect(await statuses(BURST + 1, b)).toEqual([400, 400, 400, 429]);
    // Client C spends part of its bucket directly, the rest through the follower.
    const c = (url: string) => () => post(url + PATH, '{}', { from: '127.0.0.13' });
    expect(await statuses(2, c(leaderClientUrl))).toEqual([400, 400]);
    expect(await statuses(2, c(followerClientUrl))).toEqual([400, 429]);
  });

  it('a forwarding header on the client port changes nothing: the socket address is counted', async () => {
    const forged = (header: string, value: string) => () =>
      post(leaderClientUrl + PATH, '{}', { from: '127.0.0.21', headers: { [header]: value } });
    expect(await statuses(BURST, forged('x-keyfleet-forwarded-by', FOLLOWER))).toEqual([400, 400, 400]);
    // Claiming to be a forward, or to come from somewhere else, does not open a fresh bucket.
    expect((await forged('x-keyfleet-forwarded-by', 'backups-dc3')()).status).toBe(429);
    expect((await forged('x-forwarded-for', '127.0.0.99')()).status).toBe(429);
    expect((await post(leaderClientUrl + PATH, '{}', { from: '127.0.0.99' })).status).toBe(400);
  });

  it('a process without a certified identity cannot claim a client address on the peer port', async () => {
    // The attacker exhausts its own bucket, then tries to speak for someone else.
    const own = () => post(leaderClientUrl + PATH, '{}', { from: '127.0.0.31' });
    expect(await statuses(BURST + 1, own)).toEqual([400, 400, 400, 429]);
    const envelope = forwardedEnvelope(FOLLOWER, '127.0.0.32');
    const unsigned = await post(
      leaderPeerUrl + HttpPath.peerForward,
      encodeForwardedBody(new Uint8Array(64), envelope),
      { from: '127.0.0.31', headers: { 'content-type': 'application/octet-stream' } },
    );
    expect(unsigned.status).toBe(403);
    expect(unsigned.body).toMatchObject({ error: { code: 'bad-signature' } });
    expect((await leaderMetrics.forwardsRefused.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'bad-signature' }, value: 1 }),
    ]);
    // ...and the victim's bucket was not touched.
    const victim = () => post(leaderClientUrl + PATH, '{}', { from: '127.0.0.32' });
    expect(await statuses(BURST + 1, victim)).toEqual([400, 400, 400, 429]);
  });

  it('a member refuses a forward that claims to come from itself', async () => {
    // Refused before any tag check (an HSM does not even hold a key shared with itself).
    const fromItself = encodeForwardedBody(new Uint8Array(32), forwardedEnvelope(LEADER, '127.0.0.41'));
    const r = await post(leaderPeerUrl + HttpPath.peerForward, fromItself, {
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect([r.status, r.body]).toMatchObject([403, { error: { code: 'wrong-recipient' } }]);
  });

  it('a forwarded request that reaches a member no longer leading is answered 503, not sent on', async () => {
    leaderView = 'backups-dc3'; // dc1 lost leadership after the follower chose to forward to it
    try {
      const r = await post(followerClientUrl + PATH, '{}', { from: '127.0.0.51' });
      // The leader's answer, relayed (the follower's own failure would say "could not be reached").
      expect([r.status, r.body]).toMatchObject([
        503,
        { error: { code: 'no-leader', message: expect.stringContaining('no leader is reachable') } },
      ]);
    } finally {
      leaderView = LEADER;
    }
  });

  it('a leader of the previous version (no forward route) gets the request on its client port', async () => {
    // The old leader: 404 on the peer port's forward route, the escrow API on its client port.
    const seen: (string | undefined)[] = [];
    const oldClient = newApp().post('/v1/escrow/*path', (req, res) => {
      seen.push(req.get(LEGACY_FORWARDED_HEADER));
      res.status(201).json({ member: LEADER });
    });
    const oldClientUrl = await listen(oldClient);
    const oldPeerUrl = await listen(peerApi({ hsm: fleet.members[0]!.hsm, raft: () => null, log: () => {} }));
    const forwarding = new LeaderForwarding({
      memberId: FOLLOWER,
      authenticator: { sign: () => new Uint8Array(64), verify: () => false },
      peerUrlOf: () => oldPeerUrl,
      legacyClientUrlOf: () => oldClientUrl,
      isMember: () => true,
    });
    expect(await forwarding.send(LEADER, '127.0.0.61', PATH, { userId: 'alice' })).toEqual({
      status: 201,
      body: { member: LEADER },
    });
    expect(seen).toEqual([FOLLOWER]);
    // Without a legacy address the follower reports the refusal (its client gets 503 and retries).
    const strict = new LeaderForwarding({
      memberId: FOLLOWER,
      authenticator: { sign: () => new Uint8Array(64), verify: () => false },
      peerUrlOf: () => oldPeerUrl,
      isMember: () => true,
    });
    await expect(strict.send(LEADER, '127.0.0.61', PATH, {})).rejects.toThrow(/HTTP 404/);
  });
});
