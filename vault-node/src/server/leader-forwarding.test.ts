import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmAuthenticator } from '../hsm/authenticator.ts';
import { provisionFleet, provisionMember, type TestFleet } from '../hsm/testing.ts';
import { envelopeDigest } from '../raft/transport/http-transport.ts';
import { ForwardReplayGuard } from './forward-replay-guard.ts';
import {
  decodeForwardedBody,
  decodeForwardedEnvelope,
  encodeForwardedBody,
  encodeForwardedEnvelope,
} from './forwarded-request.ts';
import { ForwardRefusedError, LeaderForwarding } from './leader-forwarding.ts';

let fleet: TestFleet;
let leader: LeaderForwarding;
let follower: LeaderForwarding;
let followerAuth: HsmAuthenticator;

const noUrl = () => 'http://127.0.0.1:1';
/** The leader's Raft configuration. */
const members = new Set(['backups-dc1', 'backups-dc2']);
let verifications = 0;
const isMember = (m: string) => members.has(m);

beforeAll(async () => {
  fleet = await provisionFleet(2, { distribute: false });
  const [l, f] = fleet.members;
  const leaderAuth = new HsmAuthenticator(l!.hsm);
  followerAuth = new HsmAuthenticator(f!.hsm);
  leaderAuth.trust(f!.certificate);
  followerAuth.trust(l!.certificate);
  const countingAuth = {
    sign: leaderAuth.sign.bind(leaderAuth),
    verify: (from: string, to: string, body: Uint8Array, signature: Uint8Array) => {
      verifications++;
      return leaderAuth.verify(from, to, body, signature);
    },
  };
  leader = new LeaderForwarding({
    memberId: l!.member,
    authenticator: countingAuth,
    peerUrlOf: noUrl,
    isMember,
  });
  follower = new LeaderForwarding({
    memberId: f!.member,
    authenticator: followerAuth,
    peerUrlOf: noUrl,
    isMember,
  });
});
afterAll(() => fleet.cleanup());

const LEADER = 'backups-dc1';
const PATH = '/v1/escrow/recover/start';

async function refusal(body: Uint8Array): Promise<ForwardRefusedError> {
  const e = await leader.open(body).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ForwardRefusedError);
  return e as ForwardRefusedError;
}

describe('forwarded client requests between members', () => {
  it('the leader opens what a certified follower sealed: its client address and request', async () => {
    const sealed = await follower.seal(LEADER, '10.0.0.7', PATH, { userId: 'alice' });
    const r = await leader.open(sealed);
    expect(r).toMatchObject({ from: 'backups-dc2', to: LEADER, client: '10.0.0.7', path: PATH });
    expect(JSON.parse(new TextDecoder().decode(r.requestJson))).toEqual({ userId: 'alice' });
  });

  it('a different client address (or any other byte) breaks the signature', async () => {
    const sealed = await follower.seal(LEADER, '10.0.0.7', PATH, { userId: 'alice' });
    const { signature, envelope } = decodeForwardedBody(sealed);
    const claimed = encodeForwardedEnvelope({ ...decodeForwardedEnvelope(envelope), client: '10.0.0.8' });
    expect((await refusal(encodeForwardedBody(signature, claimed))).code).toBe('bad-signature');
    for (let i = 0; i < envelope.length; i += 7) {
      const flipped = envelope.slice();
      flipped[i]! ^= 1;
      const e = await refusal(encodeForwardedBody(signature, flipped));
      expect(['bad-signature', 'malformed', 'wrong-recipient', 'unknown-member']).toContain(e.code);
    }
  });

  it('a captured forward is accepted once', async () => {
    const sealed = await follower.seal(LEADER, '10.0.0.7', PATH, {});
    await leader.open(sealed);
    const e = await refusal(sealed);
    expect([e.status, e.code]).toEqual([409, 'replay']);
  });

  it('refuses a forward addressed to another member', async () => {
    // Sealed by the follower for dc3 (its HSM linked dc3's certificate), shown to the leader.
    const dc3 = await provisionMember(fleet.ca, fleet.fleetId, 'backups-dc3', 'dc3', fleet.scratch);
    followerAuth.trust(dc3.certificate);
    const sealed = await follower.seal('backups-dc3', '10.0.0.7', PATH, {});
    expect((await refusal(sealed)).code).toBe('wrong-recipient');
  });

  it('refuses a member certified by another CA, a non-member, and a member whose certificate it never verified', async () => {
    const other = CertificateAuthority.generate().ca;
    // Certified as backups-dc2 by another CA; its HSM trusts both CAs, so it can link the leader
    // and make tags, but the leader never linked it: its tag is under a key the leader lacks.
    const impostor = await provisionMember(other, fleet.fleetId, 'backups-dc2', 'dc2', fleet.scratch + '/x', {
      trustAnchors: [other.publicKey, fleet.ca.publicKey],
    });
    const impostorAuth = new HsmAuthenticator(impostor.hsm);
    impostorAuth.trust(fleet.members[0]!.certificate);
    const forged = new LeaderForwarding({
      memberId: 'backups-dc2',
      authenticator: impostorAuth,
      peerUrlOf: noUrl,
      isMember,
    });
    expect((await refusal(await forged.seal(LEADER, '10.0.0.9', PATH, {}))).code).toBe('bad-signature');
    const stranger = await provisionMember(fleet.ca, fleet.fleetId, 'backups-dc5', 'dc5', fleet.scratch);
    const strangerAuth = new HsmAuthenticator(stranger.hsm);
    strangerAuth.trust(fleet.members[0]!.certificate);
    const strangerForwarding = new LeaderForwarding({
      memberId: 'backups-dc5',
      authenticator: strangerAuth,
      peerUrlOf: noUrl,
      isMember,
    });
    // Not in the configuration: refused before any signature check (which could fetch certificates).
    const before = verifications;
    expect((await refusal(await strangerForwarding.seal(LEADER, '10.0.0.9', PATH, {}))).code).toBe(
      'unknown-member',
    );
    expect(verifications).toBe(before);
    // A member now, certified by the right CA, but its certificate was never verified here.
    members.add('backups-dc5');
    try {
      expect((await refusal(await strangerForwarding.seal(LEADER, '10.0.0.9', PATH, {}))).code).toBe(
        'bad-signature',
      );
    } finally {
      members.delete('backups-dc5');
    }
    await impostor.hsm.close();
    await stranger.hsm.close();
  });

  it('a Raft envelope signature is not a forward signature (domain separation)', async () => {
    const envelope = encodeForwardedEnvelope({
      from: 'backups-dc2',
      to: LEADER,
      counter: Date.now() * 1000,
      client: '10.0.0.7',
      path: PATH,
      requestJson: new TextEncoder().encode('{}'),
    });
    const raftSignature = followerAuth.sign('backups-dc2', LEADER, envelopeDigest(envelope));
    expect((await refusal(encodeForwardedBody(raftSignature, envelope))).code).toBe('bad-signature');
  });

  it('refuses malformed bodies with 400', async () => {
    for (const body of [new Uint8Array(), new Uint8Array(64), new Uint8Array(200).fill(64)]) {
      expect((await refusal(body)).status).toBe(400);
    }
  });
});

describe('ForwardReplayGuard', () => {
  it('accepts each counter once, out of order, within the window only', () => {
    let t = 100_000_000;
    const g = new ForwardReplayGuard({ windowUs: 1_000_000, nowUs: () => t });
    expect(g.accept('a', t + 5)).toBe('ok');
    expect(g.accept('a', t + 3)).toBe('ok');
    expect(g.accept('a', t + 3)).toBe('replay');
    expect(g.accept('b', t + 3)).toBe('ok');
    expect(g.accept('a', t - 2_000_000)).toBe('outside-window');
    expect(g.accept('a', t + 2_000_000)).toBe('outside-window');
    t += 1_500_000;
    expect(g.accept('a', t)).toBe('ok');
    expect(g.accept('a', t - 1_500_000 + 5)).toBe('outside-window');
  });

  it('bounds what it remembers per sender', () => {
    let t = 100_000_000;
    const g = new ForwardReplayGuard({ windowUs: 1_000_000, maxPerSender: 2, nowUs: () => t });
    expect([g.accept('a', t + 1), g.accept('a', t + 2), g.accept('a', t + 3)]).toEqual([
      'ok',
      'ok',
      'too-many',
    ]);
    t += 1_100_000;
    expect(g.accept('a', t)).toBe('ok');
  });
});
