// The HSM evaluates the OPRF only for an attempt the state machine applied, once: whatever the
// caller presents (a fabricated commit result, a replayed or foreign attempt, one from another
// term, an expired one), no evaluation happens that the log did not count.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_SECRET_SLOT, HsmError } from '../hsm/hsm.ts';
import { provisionFleet, type TestFleet } from '../hsm/testing.ts';
import { encodeCommand, encodeResult } from './commands.ts';
import { EscrowService } from './service.ts';
import { bytes, clientRegister, inMemoryLog } from './testing.ts';

let fleet: TestFleet;
let now = Date.UTC(2030, 0, 1);
beforeAll(async () => {
  await opaque.ready;
  fleet = await provisionFleet(2, { extra: { now: () => now, loginTtlMs: 1_000, maxPendingLogins: 4 } });
}, 30_000);
afterAll(() => fleet.cleanup());

let users = 0;
const hsmOf = (i: number) => fleet.members[i]!.hsm;
/** Member 0's audit entries so far. */
function auditOps(): { op: string; detail: string }[] {
  return readFileSync(join(fleet.members[0]!.dir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string; detail: string });
}
const evaluations = () => auditOps().filter((e) => e.op === 'opaque-start-login').length;
const request = () => bytes(opaque.client.startLogin({ password: 'wrong' }).startLoginRequest);

/** A registered user on a log whose applied attempts reach member 0's HSM only. */
async function setup() {
  const log = inMemoryLog(hsmOf(0));
  const svc = new EscrowService({ hsm: hsmOf(0), propose: log.propose, guessLimit: 10 });
  const userId = `user-${++users}`;
  let ticket: Uint8Array = new Uint8Array();
  const record = await clientRegister(fleet.fleetId, userId, 'pw', async (registrationRequest) => {
    const r = await svc.registerStart({ userId, registrationRequest });
    ticket = r.ticket;
    return r.registrationResponse;
  });
  await svc.registerFinish({ userId, ticket, registrationRecord: record, replace: undefined });
  const held = log.sm.get(userId)!;
  const evaluate = (hsmIndex: number, attempt: { index: number; term: number }, who = userId) =>
    hsmOf(hsmIndex).opaqueStartLogin(FLEET_SECRET_SLOT, {
      userId: who,
      credentialNonce: held.credentialNonce,
      registrationRecord: held.registrationRecord,
      startLoginRequest: request(),
      attempt,
    });
  return { log, svc, userId, evaluate };
}

describe('the HSM evaluates only committed attempts, once each', () => {
  it('refuses an attempt no entry granted, and one whose commit result the caller made up', async () => {
    const { log, userId, evaluate } = await setup();
    await expect(evaluate(0, { index: log.committed() + 1, term: 1 })).rejects.toThrow(HsmError);
    // A propose that skips consensus and answers "granted" itself: the evaluation is refused.
    const record = log.sm.get(userId)!;
    const before = evaluations();
    const forged = new EscrowService({
      hsm: hsmOf(0),
      guessLimit: 10,
      propose: async () =>
        encodeResult('ok', (w) =>
          w
            .u8(1)
            .u8(10)
            .raw(record.credentialNonce)
            .bytes16(record.registrationRecord)
            .u64(log.committed() + 7)
            .u64(1),
        ),
    });
    await expect(forged.recoverStart({ userId, startLoginRequest: request() })).rejects.toThrow(
      /no committed, unused attempt/,
    );
    expect(log.sm.get(userId)!.attempts).toBe(0);
    expect(evaluations()).toBe(before);
  });

  it('a granted attempt is evaluated once; presenting it again is refused', async () => {
    const { svc, log, userId, evaluate } = await setup();
    await svc.recoverStart({ userId, startLoginRequest: request() });
    const index = log.committed();
    await expect(evaluate(0, { index, term: 1 })).rejects.toThrow(/no committed, unused attempt/);
  });

  it('the grant names its entry exactly: another term, user or registration is refused', async () => {
    const a = await setup();
    const b = await setup();
    // Commit an attempt for a's user without evaluating it (the state machine alone).
    await a.log.propose(encodeCommand({ op: 'attempt', userId: a.userId }));
    const index = a.log.committed();
    await expect(a.evaluate(0, { index, term: 2 })).rejects.toThrow(HsmError);
    await expect(a.evaluate(0, { index, term: 1 }, b.userId)).rejects.toThrow(HsmError);
    await expect(b.evaluate(0, { index, term: 1 }, a.userId)).rejects.toThrow(HsmError); // b's registration
    // Another member's HSM never heard of it (its member did not apply it).
    await expect(a.evaluate(1, { index, term: 1 })).rejects.toThrow(HsmError);
    // None of the refusals used it up.
    expect((await a.evaluate(0, { index, term: 1 })).loginResponse.length).toBeGreaterThan(0);
  });

  it('an attempt not evaluated within the login TTL expires (it stays spent)', async () => {
    const { log, userId, evaluate } = await setup();
    await log.propose(encodeCommand({ op: 'attempt', userId }));
    now += 1_001;
    await expect(evaluate(0, { index: log.committed(), term: 1 })).rejects.toThrow(HsmError);
    expect(log.sm.get(userId)!.attempts).toBe(1);
  });

  it('holds a bounded number of grants, dropping the oldest', async () => {
    const { log, userId, evaluate } = await setup();
    const indices: number[] = [];
    for (let i = 0; i < 5; i++) {
      await log.propose(encodeCommand({ op: 'attempt', userId }));
      indices.push(log.committed());
    }
    await expect(evaluate(0, { index: indices[0]!, term: 1 })).rejects.toThrow(HsmError);
    expect((await evaluate(0, { index: indices[4]!, term: 1 })).loginId.length).toBeGreaterThan(0);
  });

  it('every refusal is in the audit log, apart from the evaluations', async () => {
    const { log, evaluate } = await setup();
    await expect(evaluate(0, { index: log.committed() + 100, term: 1 })).rejects.toThrow(HsmError);
    await hsmOf(0).flush();
    expect(auditOps().at(-1)).toMatchObject({
      op: 'opaque-start-login-refused',
      detail: `attempt=${log.committed() + 100}`,
    });
  });
});
