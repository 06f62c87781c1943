// The guess limit against adversity on a seven-member fleet of real processes: wrong guesses sent
// concurrently through every member, the leader killed between a recover's start and finish, and
// the leader killed (SIGKILL) while recover starts are in flight. Evaluations are counted from the
// members' HSM audit logs ('opaque-start-login' lines, written before the HSM returns), so a
// process that crashed right after evaluating is still counted.
import { BackupError } from '@keyfleet/sdk/backup/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../fleet/local-fleet.ts';
import {
  backupClient,
  finishBody,
  loginEvaluations,
  post,
  recoverStart,
  retryingTransport,
  running,
  settled,
  wrongGuessesUntilLocked,
} from './fleet-probe.ts';

const GUESS_LIMIT = 4;
let fleet: LocalFleet;

beforeAll(async () => {
  fleet = await LocalFleet.start({ guessLimit: GUESS_LIMIT, tickMs: 50 }, 90_000);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
});

const member = (i: number) => {
  const m = running(fleet);
  return m[i % m.length] as (typeof m)[number];
};

async function register(userId: string, password: string): Promise<Uint8Array> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  await backupClient(fleet, member(0)).register(userId, password, key);
  return key;
}

const guessUntilLocked = (userId: string) => wrongGuessesUntilLocked(fleet, userId, 3 * GUESS_LIMIT);

describe('the guess limit on a fleet of real processes', () => {
  it('allows exactly guessLimit evaluations to wrong guesses sent concurrently through all seven members', async () => {
    await register('concurrent', 'the right one');
    const before = loginEvaluations(fleet);
    const outcomes = await Promise.all(
      Array.from({ length: 4 * GUESS_LIMIT }, (_, i) =>
        backupClient(fleet, member(i))
          .recover('concurrent', `guess ${i}`)
          .then(
            () => 'recovered',
            (e: unknown) => (e instanceof BackupError ? `${e.code}:${e.status ?? ''}` : String(e)),
          ),
      ),
    );
    const wrong = outcomes.filter((o) => o.startsWith('wrong-password')).length;
    const locked = outcomes.filter((o) => o === 'locked:423').length;
    const evaluations = loginEvaluations(fleet) - before;
    // A 503 after the attempt committed spends it without an evaluation: only then can there be fewer.
    const unavailable = outcomes.filter((o) => o.endsWith(':503')).length;
    expect(evaluations).toBeLessThanOrEqual(GUESS_LIMIT);
    expect(wrong).toBe(evaluations);
    if (unavailable === 0) expect(evaluations).toBe(GUESS_LIMIT);
    expect(wrong + locked + unavailable, outcomes.join(', ')).toBe(4 * GUESS_LIMIT);
    await expect(backupClient(fleet, member(3)).recover('concurrent', 'the right one')).rejects.toMatchObject(
      { code: 'locked' },
    );
    expect(loginEvaluations(fleet) - before).toBe(evaluations);
  });

  it('spends the attempt when the leader dies between recover start and finish, and evaluates no more than the limit', async () => {
    await register('between', 'pw between');
    const before = loginEvaluations(fleet);
    const leader = await fleet.leader();
    const started = await recoverStart(leader, 'between', 'pw between');
    expect(started.answer.status).toBe(200);
    const finish = finishBody(fleet.fleetId, 'between', 'pw between', started);
    expect(finish).not.toBeNull();
    await fleet.kill(leader);
    const survivor = running(fleet)[0] as (typeof fleet.members)[number];
    // The login state was only in the dead leader's HSM: the new leader refuses the finish.
    const transport = retryingTransport(survivor.clientUrl);
    const refused = await transport('/v1/escrow/recover/finish', finish);
    expect(refused.status).toBe(401);
    fleet.spawn(leader);
    await settled(fleet);
    // One attempt is spent: limit - 1 wrong guesses remain, then the record locks.
    expect(await guessUntilLocked('between')).toBe(GUESS_LIMIT - 1);
    expect(loginEvaluations(fleet) - before).toBe(GUESS_LIMIT);
    await expect(backupClient(fleet, member(1)).recover('between', 'pw between')).rejects.toMatchObject({
      code: 'locked',
    });
  });

  it('never evaluates more than the limit when the leader is killed while recover starts are in flight', async () => {
    await register('in-flight', 'pw in flight');
    const other = await register('bystander', 'pw bystander');
    const before = loginEvaluations(fleet);
    const leader = await fleet.leader();
    // Wrong guesses sent straight at the leader; it is killed while they are being committed.
    const inFlight = Array.from({ length: GUESS_LIMIT - 1 }, (_, i) =>
      recoverStart(leader, 'in-flight', `wrong ${i}`).then(
        (s) => s.answer.status,
        () => 'connection lost',
      ),
    );
    await new Promise((r) => setTimeout(r, 15));
    await fleet.kill(leader);
    const answers = await Promise.all(inFlight);
    const acknowledged = answers.filter((a) => a === 200).length;
    fleet.spawn(leader);
    await settled(fleet);
    const evaluatedInFlight = loginEvaluations(fleet) - before;
    expect(evaluatedInFlight).toBeGreaterThanOrEqual(acknowledged);
    // Whatever the crash did, every acknowledged evaluation stays spent, and no more than the
    // limit is ever evaluated in total.
    const remaining = await guessUntilLocked('in-flight');
    expect(acknowledged + remaining).toBeLessThanOrEqual(GUESS_LIMIT);
    expect(loginEvaluations(fleet) - before).toBeLessThanOrEqual(GUESS_LIMIT);
    await expect(backupClient(fleet, member(2)).recover('in-flight', 'pw in flight')).rejects.toMatchObject({
      code: 'locked',
    });
    // The crash lost nothing acknowledged for anyone else.
    expect(Buffer.from(await backupClient(fleet, member(4)).recover('bystander', 'pw bystander'))).toEqual(
      Buffer.from(other),
    );
  });

  it('answers a recover start for a locked record 423 on every member without evaluating', async () => {
    const before = loginEvaluations(fleet);
    for (const m of running(fleet)) {
      const started = await recoverStart(m, 'concurrent', 'the right one');
      expect(started.answer.status).toBe(423);
    }
    expect(loginEvaluations(fleet) - before).toBe(0);
    expect((await post(`${member(0).clientUrl}/v1/escrow/recover/start`, {})).status).toBe(400);
  });
});
