// Rate limits of client requests a follower forwards to the leader, on a fleet of real processes.
// The leader counts the client a follower vouches for (signed by the follower's HSM identity over
// the peer port), in the same bucket as that client's direct requests; clients behind one follower
// no longer share a bucket, and nothing a client sends changes whom the leader counts.
// Clients here are distinct loopback source addresses (127.0.0.x); each member's limit is a
// burst of 100, then 50 per second (client-api.ts).
import { Agent, request as httpRequest } from 'node:http';
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeForwardedBody,
  encodeForwardedEnvelope,
} from '../../../vault-node/src/server/forwarded-request.ts';
import { LocalFleet, type LocalMember } from '../../fleet/local-fleet.ts';
import { send } from './fleet-probe.ts';

const BURST = 100;
const PATH = '/v1/escrow/recover/start';

let fleet: LocalFleet;
let leader: LocalMember;
let follower: LocalMember;

beforeAll(async () => {
  fleet = await LocalFleet.start({ tickMs: 50 }, 90_000);
  leader = await fleet.leader();
  follower = fleet.members.find((m) => m !== leader)!;
}, 120_000);
afterAll(async () => {
  await fleet?.destroy();
});

/** `n` concurrent escrow requests (an empty body: the leader answers 400) from source address `from`. */
async function burst(url: string, from: string, n: number, headers: Record<string, string> = {}) {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  try {
    const one = () =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          url + PATH,
          {
            method: 'POST',
            agent,
            localAddress: from,
            headers: { 'content-type': 'application/json', ...headers },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end('{}');
      });
    const statuses = await Promise.all(Array.from({ length: n }, one));
    return {
      answered: statuses.filter((s) => s === 400).length,
      limited: statuses.filter((s) => s === 429).length,
      other: statuses.filter((s) => s !== 400 && s !== 429),
    };
  } finally {
    agent.destroy();
  }
}

describe('rate limits through a follower, on real processes', () => {
  it('count each client, not the follower, and share the bucket with its direct requests', async () => {
    const a = await burst(follower.clientUrl, '127.0.0.11', 3 * BURST);
    expect(a.other).toEqual([]);
    expect(a.limited).toBeGreaterThan(0);
    // Client A's bucket on the leader is spent by what the follower forwarded for it...
    const direct = await burst(leader.clientUrl, '127.0.0.11', 40);
    expect(direct.limited).toBeGreaterThan(0);
    // ...while client B behind the same follower has its own (it shared the follower's before).
    const b = await burst(follower.clientUrl, '127.0.0.12', 40);
    expect(b).toEqual({ answered: 40, limited: 0, other: [] });
  });

  it('a forwarding header from a client opens no other bucket', async () => {
    const spent = await burst(leader.clientUrl, '127.0.0.21', 3 * BURST);
    expect(spent.limited).toBeGreaterThan(0);
    // Claiming to be a forward (the old header gave forwarded requests a bucket of their own).
    const claimed = await burst(leader.clientUrl, '127.0.0.21', 40, {
      'x-keyfleet-forwarded-by': follower.id,
    });
    expect(claimed.other).toEqual([]);
    expect(claimed.limited).toBeGreaterThan(0);
  });

  it('the peer port refuses a forwarded request no certified member signed', async () => {
    const envelope = encodeForwardedEnvelope({
      from: follower.id,
      to: leader.id,
      counter: Date.now() * 1000,
      client: '127.0.0.31',
      path: PATH,
      requestJson: new TextEncoder().encode('{}'),
    });
    const a = await send(
      `http://${leader.host}:7000${HttpPath.peerForward}`,
      'POST',
      encodeForwardedBody(new Uint8Array(64), envelope),
      { 'content-type': 'application/octet-stream' },
    );
    expect(a).toMatchObject({ status: 403, body: { error: { code: 'bad-signature' } } });
  });
});
