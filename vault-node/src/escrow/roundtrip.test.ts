// The client library against the escrow protocol, end to end minus the network and the Raft
// machinery: BackupClient -> JSON -> handleEscrowRequest -> EscrowService -> HSM, with an
// in-memory log standing for "propose, commit, apply".

import { randomBytes } from 'node:crypto';
import { BackupClient, type BackupClientOptions, type Transport } from '@keyfleet/sdk/backup/client';
import { ESCROW_PATHS } from '@keyfleet/sdk/backup/wire';
import { trustedMembersFromCertificates } from '@keyfleet/sdk/hsm/certificate';
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_SECRET_SLOT } from '../hsm/hsm.ts';
import { provisionFleet, TEST_EPOCH_MS, type TestFleet } from '../hsm/testing.ts';
import { EscrowService, handleEscrowRequest } from './service.ts';
import { CHEAP_STRETCHING, counting, inMemoryLog } from './testing.ts';

let fleet: TestFleet;
let trusted: Map<string, Uint8Array>;
beforeAll(async () => {
  await opaque.ready;
  fleet = await provisionFleet(3);
  trusted = trustedMembersFromCertificates(
    fleet.members.map((m) => m.certificate),
    { trustAnchors: [fleet.ca.publicKey], now: Math.floor(TEST_EPOCH_MS / 1000), fleet: fleet.fleetId },
  );
}, 30_000);
afterAll(async () => {
  await fleet.cleanup();
});

const GUESS_LIMIT = 4;

/** JSON both ways, as over HTTP. */
function transportTo(service: EscrowService, tamper?: (path: string, body: unknown) => unknown): Transport {
  return async (path, body) => {
    const r = await handleEscrowRequest(service, path, JSON.parse(JSON.stringify(body)));
    const out = JSON.parse(JSON.stringify(r.body));
    return { status: r.status, body: tamper ? tamper(path, out) : out };
  };
}

function setup(o: Partial<BackupClientOptions> = {}) {
  const log = inMemoryLog(fleet.members[0]!.hsm);
  const spy = counting(fleet.members[0]!.hsm);
  const service = new EscrowService({ hsm: spy.hsm, propose: log.propose, guessLimit: GUESS_LIMIT });
  const client = new BackupClient({
    fleetId: fleet.fleetId,
    trustedMembers: trusted,
    transport: transportTo(service),
    opaqueServerPublicKey: fleet.members[0]!.hsm.publicKey(FLEET_SECRET_SLOT),
    ...o,
  });
  return { log, spy, service, client };
}

describe('backup round trip', () => {
  it('register -> recover -> wrong password until the limit -> locked forever (default Argon2id)', {
    timeout: 120_000,
  }, async () => {
    const { log, spy, service, client } = setup();
    const key = new Uint8Array(randomBytes(32));
    await client.register('alice', 'correct horse battery staple', key);
    expect(await client.recover('alice', 'correct horse battery staple')).toEqual(key);
    expect(log.sm.get('alice')?.attempts).toBe(0);
    const evaluationsBefore = spy.counts.startLogin;

    await expect(client.recover('alice', 'Tr0ub4dor&3')).rejects.toMatchObject({ code: 'wrong-password' });
    // The remaining guesses without running Argon2id: a start is all a guess costs the server.
    const { startLoginRequest } = opaque.client.startLogin({ password: 'guess' });
    const transport = transportTo(service);
    for (let i = 1; i < GUESS_LIMIT; i++) {
      const r = await transport(ESCROW_PATHS.recoverStart, { userId: 'alice', startLoginRequest });
      expect(r.status).toBe(200);
    }
    await expect(client.recover('alice', 'correct horse battery staple')).rejects.toMatchObject({
      code: 'locked',
      status: 423,
    });
    expect(spy.counts.startLogin - evaluationsBefore).toBe(GUESS_LIMIT);
    expect(log.sm.get('alice')).toMatchObject({ locked: true, attempts: GUESS_LIMIT });
  });

  it('change password, recover with the new one only, then delete', { timeout: 60_000 }, async () => {
    const { log, client } = setup({ keyStretching: CHEAP_STRETCHING });
    const key = new Uint8Array(randomBytes(32));
    await client.register('bob', 'old', key);
    await client.changePassword('bob', 'old', 'new');
    expect(await client.recover('bob', 'new')).toEqual(key);
    await expect(client.recover('bob', 'old')).rejects.toMatchObject({ code: 'wrong-password' });
    await expect(client.register('bob', 'again', key)).rejects.toMatchObject({ code: 'exists' });
    await client.delete('bob', 'new');
    expect(log.sm.get('bob')).toBeUndefined();
    await expect(client.recover('bob', 'new')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('refuses responses not signed by a trusted member, at the first response', async () => {
    const { log, service } = setup();
    const onlyOthers = new Map([...trusted].filter(([m]) => m !== fleet.members[0]!.member));
    const untrusting = new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: onlyOthers,
      transport: transportTo(service),
    });
    await expect(untrusting.register('carol', 'pw', new Uint8Array(32))).rejects.toMatchObject({
      code: 'untrusted-response',
      message: /not in the trusted set/,
    });
    // A response relabelled as coming from another trusted member does not verify either.
    const relabel = new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: trusted,
      transport: transportTo(service, (_p, body) => ({
        ...(body as object),
        member: fleet.members[1]!.member,
      })),
    });
    await expect(relabel.register('carol', 'pw', new Uint8Array(32))).rejects.toMatchObject({
      code: 'untrusted-response',
      message: /not signed by member backups-dc2/,
    });
    // Both stopped at the first response: nothing was ever registered.
    expect(log.sm.get('carol')).toBeUndefined();
    expect(log.committed()).toBe(0);
  });

  it('refuses a fleet whose OPAQUE key is not the pinned one', { timeout: 30_000 }, async () => {
    const { client } = setup({
      keyStretching: CHEAP_STRETCHING,
      opaqueServerPublicKey: new Uint8Array(32).fill(9),
    });
    await expect(client.register('dave', 'pw', new Uint8Array(32))).rejects.toMatchObject({
      code: 'untrusted-response',
      message: /pinned/,
    });
  });

  it('a response for another conversation is refused (tampered release)', { timeout: 30_000 }, async () => {
    const { service } = setup();
    const key = new Uint8Array(randomBytes(32));
    const honest = new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: trusted,
      transport: transportTo(service),
      keyStretching: CHEAP_STRETCHING,
    });
    await honest.register('erin', 'pw', key);
    const flipLastChar = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
    const tampering = new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: trusted,
      keyStretching: CHEAP_STRETCHING,
      transport: transportTo(service, (path, body) =>
        path === ESCROW_PATHS.recoverFinish
          ? {
              ...(body as Record<string, string>),
              releaseNonce: flipLastChar((body as Record<string, string>).releaseNonce!),
            }
          : body,
      ),
    });
    await expect(tampering.recover('erin', 'pw')).rejects.toMatchObject({ code: 'untrusted-response' });
    expect(await honest.recover('erin', 'pw')).toEqual(key);
  });
});

describe('signed acknowledgements: an attacker on the path cannot fake "committed"', () => {
  /**
   * An on-path attacker: `drop` decides which requests never reach the fleet, and `answer` what the
   * client gets for them instead. Every other request goes through; genuine answers are recorded.
   */
  function onPath(
    service: EscrowService,
    drop: (path: string, body: Record<string, unknown>) => boolean,
    answer: (path: string) => unknown,
  ) {
    const seen: { path: string; body: Record<string, unknown> }[] = [];
    const honest = transportTo(service);
    const transport: Transport = async (path, body) => {
      if (drop(path, body as Record<string, unknown>)) return { status: 200, body: answer(path) };
      const r = await honest(path, body);
      seen.push({ path, body: r.body as Record<string, unknown> });
      return r;
    };
    return { transport, seen };
  }

  function clientOver(transport: Transport) {
    return new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: trusted,
      transport,
      keyStretching: CHEAP_STRETCHING,
    });
  }

  const member = () => fleet.members[0]!.member;

  it('a dropped backup-key upload answered with an unsigned "ok" is refused; nothing is stored', {
    timeout: 30_000,
  }, async () => {
    const { log, service } = setup();
    const { transport } = onPath(
      service,
      (path) => path === ESCROW_PATHS.backupKey,
      () => ({ member: member() }),
    );
    await expect(
      clientOver(transport).register('frank', 'pw', new Uint8Array(32).fill(1)),
    ).rejects.toMatchObject({
      code: 'untrusted-response',
      message: /acknowledgement of backup-key for frank is not signed/,
    });
    expect(log.sm.get('frank')?.sealedBackupKey).toBeNull();
  });

  it('a forged signature, or a genuine ack replayed onto another request, is refused', {
    timeout: 30_000,
  }, async () => {
    const { log, service } = setup();
    // A genuine upload ack, recorded from an earlier registration of another user.
    const recorder = onPath(
      service,
      () => false,
      () => null,
    );
    await clientOver(recorder.transport).register('grace', 'pw', new Uint8Array(32).fill(2));
    const genuine = recorder.seen.find((s) => s.path === ESCROW_PATHS.backupKey)!.body;
    const genuineRegister = recorder.seen.find((s) => s.path === ESCROW_PATHS.registerFinish)!.body;
    expect(genuine.ack).toBeDefined();

    const attempts: [string, unknown][] = [
      [ESCROW_PATHS.backupKey, genuine],
      [
        ESCROW_PATHS.backupKey,
        { ...genuine, ack: { ...(genuine.ack as object), signature: 'A'.repeat(86) } },
      ],
      [ESCROW_PATHS.registerFinish, genuineRegister],
    ];
    for (const [i, [dropped, forged]] of attempts.entries()) {
      const userId = `henry${i}`;
      const { transport } = onPath(
        service,
        (path) => path === dropped,
        () => forged,
      );
      await expect(
        clientOver(transport).register(userId, 'pw', new Uint8Array(32).fill(3)),
      ).rejects.toMatchObject({
        code: 'untrusted-response',
        message: /not signed by member/,
      });
      // Whichever step was dropped, no backup key was stored for this user.
      expect(log.sm.get(userId)?.sealedBackupKey ?? null).toBeNull();
    }
    // The same genuine ack is accepted for the request it answers (the test is not vacuous).
    expect(await clientOver(transportTo(service)).recover('grace', 'pw')).toEqual(new Uint8Array(32).fill(2));
  });

  it('a dropped delete answered with a forged ack is refused; the record is still there', {
    timeout: 30_000,
  }, async () => {
    const { log, service } = setup();
    const key = new Uint8Array(32).fill(4);
    await clientOver(transportTo(service)).register('ivan', 'pw', key);
    const { transport } = onPath(
      service,
      (path) => path === ESCROW_PATHS.delete,
      () => ({ member: member() }),
    );
    await expect(clientOver(transport).delete('ivan', 'pw')).rejects.toMatchObject({
      code: 'untrusted-response',
      message: /acknowledgement of delete for ivan is not signed/,
    });
    expect(log.sm.get('ivan')).toBeDefined();
  });

  it('a client from before signed acknowledgements (no ackNonce) still gets its plain answer', async () => {
    const { log, service } = setup();
    const { registrationRequest, clientRegistrationState } = opaque.client.startRegistration({
      password: 'pw',
    });
    const transport = transportTo(service);
    const start = (await transport(ESCROW_PATHS.registerStart, { userId: 'judy', registrationRequest }))
      .body as {
      ticket: string;
      registrationResponse: string;
    };
    const { registrationRecord } = opaque.client.finishRegistration({
      clientRegistrationState,
      registrationResponse: start.registrationResponse,
      password: 'pw',
      identifiers: { client: 'judy', server: `keyfleet:${fleet.fleetId}` },
      keyStretching: CHEAP_STRETCHING,
    });
    const r = await transport(ESCROW_PATHS.registerFinish, {
      userId: 'judy',
      ticket: start.ticket,
      registrationRecord,
    });
    expect(r).toEqual({ status: 201, body: { member: member() } });
    expect(log.sm.get('judy')).toBeDefined();
  });
});
