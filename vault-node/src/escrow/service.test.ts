import { releaseAd, replacePayload, sessionKeys, sessionTag, uploadAd } from '@keyfleet/sdk/backup/crypto';
import { ESCROW_PATHS, messageToJson, schemas } from '@keyfleet/sdk/backup/wire';
import { aeadOpen, aeadSeal } from '@keyfleet/sdk/hsm/aead';
import * as opaque from '@serenity-kit/opaque';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SoftwareHsm } from '../hsm/hsm.ts';
import { provisionFleet, type TestFleet } from '../hsm/testing.ts';
import { decodeAttemptResult, encodeCommand } from './commands.ts';
import { EscrowError, type EscrowHsm, EscrowService, handleEscrowRequest, type Propose } from './service.ts';
import {
  bytes,
  clientFinishLogin,
  clientRegister,
  counting,
  type InMemoryLog,
  inMemoryLog,
} from './testing.ts';

let fleet: TestFleet;
let a: SoftwareHsm;
let b: SoftwareHsm;
beforeAll(async () => {
  await opaque.ready;
  fleet = await provisionFleet(2);
  a = fleet.members[0]!.hsm;
  b = fleet.members[1]!.hsm;
}, 30_000);
afterAll(async () => {
  await fleet.cleanup();
});

const GUESS_LIMIT = 3;
let userCounter = 0;
const newUser = () => `user-${++userCounter}`;

async function registered(service: EscrowService, userId: string, password: string, fleetId = fleet.fleetId) {
  let ticket: Uint8Array = new Uint8Array();
  const record = await clientRegister(fleetId, userId, password, async (registrationRequest) => {
    const r = await service.registerStart({ userId, registrationRequest });
    ticket = r.ticket;
    return r.registrationResponse;
  });
  await service.registerFinish({ userId, ticket, registrationRecord: record, replace: undefined });
}

function startRequest(password: string) {
  const s = opaque.client.startLogin({ password });
  return { state: s.clientLoginState, request: bytes(s.startLoginRequest) };
}

/** A full login through `start` and `finish` services; returns the session and what was released. */
async function login(start: EscrowService, finish: EscrowService, userId: string, password: string) {
  const s = startRequest(password);
  const r = await start.recoverStart({ userId, startLoginRequest: s.request });
  const c = clientFinishLogin(fleet.fleetId, userId, password, s.state, r.loginResponse);
  if (!c) throw new Error('wrong password');
  const done = await finish.recoverFinish({
    userId,
    loginId: r.loginId,
    finishLoginRequest: c.finishLoginRequest,
  });
  const ctx = { fleetId: fleet.fleetId, userId, sessionId: done.sessionId };
  const keys = sessionKeys(c.sessionKey, ctx);
  const released = aeadOpen(keys.release, done.releaseNonce, releaseAd(ctx), done.releaseCiphertext)!;
  return { done, keys, released, ctx };
}

function service(log: InMemoryLog, hsm: EscrowHsm = a, propose: Propose = log.propose) {
  return new EscrowService({ hsm, propose, guessLimit: GUESS_LIMIT });
}

describe('recover start: the attempt is committed before the OPRF is evaluated', () => {
  it('evaluates only after the attempt commit resolved, in that order', async () => {
    const log = inMemoryLog(a, b);
    const events: string[] = [];
    const spy = counting(a);
    const hsm: EscrowHsm = {
      ...spy.hsm,
      opaqueStartLogin: (...x) => {
        events.push('evaluate');
        return spy.hsm.opaqueStartLogin(...x);
      },
    };
    const userId = newUser();
    await registered(service(log), userId, 'pw');
    const svc = service(log, hsm, async (cmd) => {
      events.push('propose');
      const r = await log.propose(cmd);
      events.push('committed');
      return r;
    });
    await svc.recoverStart({ userId, startLoginRequest: startRequest('pw').request });
    expect(events).toEqual(['propose', 'committed', 'evaluate']);
  });

  it('never evaluates more than guessLimit times, whatever fails and when (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('ok', 'lost-before-commit', 'ack-lost-after-commit', 'evaluate-crashes'), {
          minLength: 1,
          maxLength: 12,
        }),
        async (plan) => {
          const log = inMemoryLog(a, b);
          const userId = newUser();
          await registered(service(log), userId, 'pw');
          const spy = counting(a);
          let evaluations = 0;
          const request = startRequest('wrong').request;
          for (const step of plan) {
            const hsm: EscrowHsm = {
              ...spy.hsm,
              opaqueStartLogin: (...x) => {
                if (step === 'evaluate-crashes') throw new Error('member crashed before evaluating');
                evaluations++;
                return spy.hsm.opaqueStartLogin(...x);
              },
            };
            const propose: Propose = async (cmd) => {
              if (step === 'lost-before-commit') throw new Error('not the leader');
              const r = await log.propose(cmd);
              if (step === 'ack-lost-after-commit') throw new Error('leader changed before answering');
              return r;
            };
            await service(log, hsm, propose)
              .recoverStart({ userId, startLoginRequest: request })
              .catch(() => {});
            const record = log.sm.get(userId)!;
            expect(evaluations).toBeLessThanOrEqual(record.attempts);
          }
          expect(evaluations).toBeLessThanOrEqual(GUESS_LIMIT);
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);

  it('wrong guesses: exactly guessLimit evaluations, then 423 forever', async () => {
    const log = inMemoryLog(a, b);
    const spy = counting(a);
    const svc = service(log, spy.hsm);
    const userId = newUser();
    await registered(svc, userId, 'right');
    const wrong = startRequest('wrong').request;
    for (let i = 0; i < GUESS_LIMIT; i++) await svc.recoverStart({ userId, startLoginRequest: wrong });
    for (let i = 0; i < 3; i++) {
      await expect(svc.recoverStart({ userId, startLoginRequest: wrong })).rejects.toMatchObject({
        code: 'locked',
      });
    }
    expect(spy.counts.startLogin).toBe(GUESS_LIMIT);
    // The right password does not help once locked.
    await expect(login(svc, svc, userId, 'right')).rejects.toMatchObject({ code: 'locked' });
    expect(spy.counts.startLogin).toBe(GUESS_LIMIT);
    expect(log.sm.get(userId)).toMatchObject({ locked: true, attempts: GUESS_LIMIT });
  });
});

describe('recover finish', () => {
  it('releases the key encrypted under the session and resets the count', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const first = await login(svc, svc, userId, 'pw');
    expect(first.released[0]).toBe(0); // registered, no key yet
    const key = new Uint8Array(32).fill(0x5a);
    const nonce = new Uint8Array(24).fill(1);
    await svc.uploadBackupKey({
      userId,
      sessionId: first.done.sessionId,
      nonce,
      ciphertext: aeadSeal(first.keys.upload, nonce, uploadAd(first.ctx), key),
    });
    await svc.recoverStart({ userId, startLoginRequest: startRequest('x').request }); // one wrong guess
    const second = await login(svc, svc, userId, 'pw');
    expect(second.released).toEqual(new Uint8Array([1, ...key]));
    expect(log.sm.get(userId)?.attempts).toBe(0);
    // The sealed key in the replicated state is not the key.
    const sealed = log.sm.get(userId)!.sealedBackupKey!;
    expect(Buffer.from(sealed).includes(Buffer.from(key))).toBe(false);
  });

  it('a finish sent to another member (leader changed) fails and the attempt stays spent', async () => {
    const log = inMemoryLog(a, b);
    const onA = service(log, a);
    const onB = service(log, b);
    const userId = newUser();
    await registered(onA, userId, 'pw');
    await expect(login(onA, onB, userId, 'pw')).rejects.toMatchObject({ code: 'authentication-failed' });
    expect(log.sm.get(userId)?.attempts).toBe(1);
    // Start and finish on the new leader work (the fleet secret is the same).
    await login(onB, onB, userId, 'pw');
    expect(log.sm.get(userId)?.attempts).toBe(0);
  });

  it('releases nothing when the reset cannot be committed (leadership lost)', async () => {
    const log = inMemoryLog(a, b);
    const spy = counting(a);
    const userId = newUser();
    await registered(service(log), userId, 'pw');
    let commits = 0;
    const svc = service(log, spy.hsm, async (cmd) => {
      if (++commits === 2) throw new Error('not the leader any more');
      return log.propose(cmd);
    });
    await expect(login(svc, svc, userId, 'pw')).rejects.toThrow(/not the leader/);
    expect(spy.counts.release).toBe(0);
    expect(log.sm.get(userId)?.attempts).toBe(1);
  });

  it('a finish for another user, or a replayed finish, is refused', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const s = startRequest('pw');
    const r = await svc.recoverStart({ userId, startLoginRequest: s.request });
    const c = clientFinishLogin(fleet.fleetId, userId, 'pw', s.state, r.loginResponse)!;
    const finish = { userId, loginId: r.loginId, finishLoginRequest: c.finishLoginRequest };
    await expect(svc.recoverFinish({ ...finish, userId: newUser() })).rejects.toMatchObject({
      code: 'authentication-failed',
    });
    // The login state was consumed by that attempt: one finish per start.
    await expect(svc.recoverFinish(finish)).rejects.toMatchObject({ code: 'authentication-failed' });
  });
});

describe('registration', () => {
  it('registration start evaluates under a fresh credential nonce each time (no OPRF oracle)', async () => {
    const svc = service(inMemoryLog(a, b));
    const { registrationRequest } = opaque.client.startRegistration({ password: 'guess' });
    const req = { userId: 'victim', registrationRequest: bytes(registrationRequest) };
    const r1 = await svc.registerStart(req);
    const r2 = await svc.registerStart(req);
    expect(r1.ticket).not.toEqual(r2.ticket);
    expect(r1.registrationResponse.subarray(0, 32)).not.toEqual(r2.registrationResponse.subarray(0, 32));
  });

  it('first registration wins; a ticket is bound to its user', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    await expect(registered(svc, userId, 'other')).rejects.toMatchObject({ code: 'exists' });
    const { registrationRequest } = opaque.client.startRegistration({ password: 'pw' });
    const r = await svc.registerStart({ userId: 'mallory', registrationRequest: bytes(registrationRequest) });
    await expect(
      svc.registerFinish({
        userId: newUser(),
        ticket: r.ticket,
        registrationRecord: new Uint8Array(192),
        replace: undefined,
      }),
    ).rejects.toMatchObject({ code: 'invalid-request' });
  });

  it('replace and delete need a session of the owner', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const s = await login(svc, svc, userId, 'pw');
    const bad = new Uint8Array(32);
    await expect(svc.delete({ userId, sessionId: s.done.sessionId, tag: bad })).rejects.toMatchObject({
      code: 'authentication-failed',
    });
    const tag = sessionTag(s.keys.auth, 'delete', new Uint8Array());
    await expect(svc.delete({ userId: newUser(), sessionId: s.done.sessionId, tag })).rejects.toMatchObject({
      code: 'authentication-failed',
    });
    await svc.delete({ userId, sessionId: s.done.sessionId, tag });
    expect(log.sm.get(userId)).toBeUndefined();
  });

  it("replace needs the owner's session, a ticket for this user, and the kept key under the session", async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'old');
    const s = await login(svc, svc, userId, 'old');
    let ticket: Uint8Array = new Uint8Array();
    const record = await clientRegister(fleet.fleetId, userId, 'new', async (registrationRequest) => {
      const r = await svc.registerStart({ userId, registrationRequest });
      ticket = r.ticket;
      return r.registrationResponse;
    });
    const key = new Uint8Array(32).fill(0x33);
    const nonce = new Uint8Array(24).fill(2);
    const upload = aeadSeal(s.keys.upload, nonce, uploadAd(s.ctx), key);
    const tag = sessionTag(s.keys.auth, 'replace', replacePayload(ticket, record));
    const req = { userId, ticket, registrationRecord: record };
    const good = { sessionId: s.done.sessionId, tag, nonce, ciphertext: upload };
    const foreign = opaque.client.startRegistration({ password: 'x' }).registrationRequest;
    const otherTicket = (
      await svc.registerStart({ userId: 'someone-else', registrationRequest: bytes(foreign) })
    ).ticket;
    const refused = [
      { ...req, replace: { ...good, tag: new Uint8Array(32) } },
      { ...req, replace: { ...good, ciphertext: aeadSeal(new Uint8Array(32), nonce, uploadAd(s.ctx), key) } },
      { ...req, ticket: otherTicket, replace: good },
    ];
    for (const r of refused) {
      await expect(svc.registerFinish(r)).rejects.toMatchObject({ code: 'authentication-failed' });
    }
    expect(log.sm.get(userId)?.registrationRecord).not.toEqual(record);
    await svc.registerFinish({ ...req, replace: good });
    expect(log.sm.get(userId)).toMatchObject({ registrationRecord: record, attempts: 0 });
    expect((await login(svc, svc, userId, 'new')).released).toEqual(new Uint8Array([1, ...key]));
    // The old session authorised one replacement of that registration; it is now stale.
    await expect(svc.registerFinish({ ...req, replace: good })).rejects.toMatchObject({ code: 'stale' });
  });

  it('an upload that does not authenticate under the session is refused', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const s = await login(svc, svc, userId, 'pw');
    const nonce = new Uint8Array(24);
    const wrongKey = new Uint8Array(32).fill(1);
    await expect(
      svc.uploadBackupKey({
        userId,
        sessionId: s.done.sessionId,
        nonce,
        ciphertext: aeadSeal(wrongKey, nonce, uploadAd(s.ctx), new Uint8Array(32)),
      }),
    ).rejects.toBeInstanceOf(EscrowError);
    expect(log.sm.get(userId)?.sealedBackupKey).toBeNull();
  });
});

describe('handleEscrowRequest', () => {
  it('answers malformed input of every field with 4xx and changes nothing (property)', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const b32 = new Uint8Array(32);
    const valid: Record<string, Record<string, unknown>> = {
      [ESCROW_PATHS.registerStart]: messageToJson(schemas.registerStartRequest, {
        userId,
        registrationRequest: b32,
      }),
      [ESCROW_PATHS.registerFinish]: messageToJson(schemas.registerFinishRequest, {
        userId,
        ticket: new Uint8Array(48),
        registrationRecord: new Uint8Array(192),
        replace: { sessionId: b32, tag: b32, nonce: new Uint8Array(24), ciphertext: new Uint8Array(48) },
      }),
      [ESCROW_PATHS.recoverStart]: messageToJson(schemas.recoverStartRequest, {
        userId,
        startLoginRequest: new Uint8Array(96),
      }),
      [ESCROW_PATHS.recoverFinish]: messageToJson(schemas.recoverFinishRequest, {
        userId,
        loginId: b32,
        finishLoginRequest: new Uint8Array(64),
      }),
      [ESCROW_PATHS.backupKey]: messageToJson(schemas.backupKeyRequest, {
        userId,
        sessionId: b32,
        nonce: new Uint8Array(24),
        ciphertext: new Uint8Array(48),
      }),
      [ESCROW_PATHS.delete]: messageToJson(schemas.deleteRequest, { userId, sessionId: b32, tag: b32 }),
    };
    const field = fc
      .constantFrom(...Object.entries(valid))
      .chain(([path, body]) =>
        fc.tuple(fc.constant(path), fc.constant(body), fc.constantFrom(...Object.keys(body), 'unknown')),
      );
    const before = log.sm.snapshot();
    await fc.assert(
      fc.asyncProperty(field, fc.jsonValue(), async ([path, body, key], value) => {
        const bad = { ...body, [key]: value };
        // A value that happens to be valid for the field is not malformed: skip it.
        fc.pre(!(key === 'userId' && typeof value === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(value)));
        const r = await handleEscrowRequest(svc, path, bad);
        expect(r.status).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
        expect(r.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
        expect(log.sm.snapshot()).toEqual(before);
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it('maps outcomes to statuses: 201 on registration, 404 unknown path and user, 423 locked', async () => {
    const log = inMemoryLog(a, b);
    const svc = service(log);
    expect((await handleEscrowRequest(svc, '/v1/escrow/nope', {})).status).toBe(404);
    const start = { userId: 'nobody', startLoginRequest: Buffer.alloc(96).toString('base64url') };
    const notFound = await handleEscrowRequest(svc, ESCROW_PATHS.recoverStart, start);
    expect(notFound).toMatchObject({ status: 404, body: { error: { code: 'not-found' } } });
    const userId = newUser();
    await registered(svc, userId, 'pw');
    const req = { userId, startLoginRequest: Buffer.from(startRequest('x').request).toString('base64url') };
    for (let i = 0; i < GUESS_LIMIT; i++) {
      expect((await handleEscrowRequest(svc, ESCROW_PATHS.recoverStart, req)).status).toBe(200);
    }
    expect(await handleEscrowRequest(svc, ESCROW_PATHS.recoverStart, req)).toMatchObject({
      status: 423,
      body: { error: { code: 'locked' } },
    });
    const { registrationRequest } = opaque.client.startRegistration({ password: 'pw' });
    const r = await handleEscrowRequest(svc, ESCROW_PATHS.registerStart, {
      userId: 'zed',
      registrationRequest,
    });
    expect(r.status).toBe(200);
    // A garbage OPAQUE message costs the attempt but is answered 400.
    const other = newUser();
    await registered(svc, other, 'pw');
    const garbage = { userId: other, startLoginRequest: Buffer.alloc(96, 0xff).toString('base64url') };
    expect((await handleEscrowRequest(svc, ESCROW_PATHS.recoverStart, garbage)).status).toBe(400);
    expect(
      decodeAttemptResult(await log.propose(encodeCommand({ op: 'attempt', userId: other }))),
    ).toMatchObject({
      attempts: 2,
    });
  });
});

describe('login state and session lifetimes (leader memory, short TTL)', () => {
  it('a login expires after its TTL, a session after its own; the table is capped', async () => {
    let now = Date.UTC(2030, 0, 1);
    const f = await provisionFleet(1, {
      extra: { now: () => now, loginTtlMs: 1_000, sessionTtlMs: 5_000, maxPendingLogins: 2 },
    });
    try {
      const log = inMemoryLog(f.members[0]!.hsm);
      const svc = new EscrowService({ hsm: f.members[0]!.hsm, propose: log.propose, guessLimit: 10 });
      const userId = newUser();
      await registered(svc, userId, 'pw', f.fleetId);

      const s = startRequest('pw');
      const started = await svc.recoverStart({ userId, startLoginRequest: s.request });
      const c = clientFinishLogin(f.fleetId, userId, 'pw', s.state, started.loginResponse)!;
      now += 1_001;
      await expect(
        svc.recoverFinish({ userId, loginId: started.loginId, finishLoginRequest: c.finishLoginRequest }),
      ).rejects.toMatchObject({ code: 'authentication-failed' });

      // At most two login states at once; expired ones make room.
      const wrong = startRequest('x').request;
      await svc.recoverStart({ userId, startLoginRequest: wrong });
      await svc.recoverStart({ userId, startLoginRequest: wrong });
      const busy = await handleEscrowRequest(svc, ESCROW_PATHS.recoverStart, {
        userId,
        startLoginRequest: Buffer.from(wrong).toString('base64url'),
      });
      expect(busy).toMatchObject({ status: 503, body: { error: { code: 'busy' } } });
      now += 1_001;

      const s2 = startRequest('pw');
      const r2 = await svc.recoverStart({ userId, startLoginRequest: s2.request });
      const c2 = clientFinishLogin(f.fleetId, userId, 'pw', s2.state, r2.loginResponse)!;
      const done = await svc.recoverFinish({
        userId,
        loginId: r2.loginId,
        finishLoginRequest: c2.finishLoginRequest,
      });
      const ctx = { fleetId: f.fleetId, userId, sessionId: done.sessionId };
      const keys = sessionKeys(c2.sessionKey, ctx);
      const nonce = new Uint8Array(24);
      const upload = {
        userId,
        sessionId: done.sessionId,
        nonce,
        ciphertext: aeadSeal(keys.upload, nonce, uploadAd(ctx), new Uint8Array(32)),
      };
      now += 5_001;
      await expect(svc.uploadBackupKey(upload)).rejects.toMatchObject({ code: 'authentication-failed' });
      expect(log.sm.get(userId)?.sealedBackupKey).toBeNull();
    } finally {
      await f.cleanup();
    }
  });
});
