// Crashes at every step of registration and recovery on a seven-member fleet of real processes:
// the leader (and, for requests in flight, also the member the client talks to) is killed with
// SIGKILL while a step's request is in flight, or right after its answer, and started again from
// its data dir. Whatever the client was told succeeded must hold afterwards: every acknowledged
// registration recovers its key (also after the whole fleet is killed at once), and acknowledged
// wrong guesses stay spent (the attempt count never goes backwards).
import { type BackupClient, BackupError, type Transport } from '@keyfleet/sdk/backup/client';
import { ESCROW_PATHS, type EscrowPath } from '@keyfleet/sdk/backup/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleet, type LocalMember } from '../../fleet/local-fleet.ts';
import {
  backupClient,
  crashAndRestart,
  loginEvaluations,
  retryingTransport,
  running,
  settled,
  wrongGuessesUntilLocked,
} from './fleet-probe.ts';

const GUESS_LIMIT = 5;
let fleet: LocalFleet;
/** Registrations a client was told succeeded: user id -> password and backup key. */
const acknowledged = new Map<string, { password: string; key: Uint8Array }>();

beforeAll(async () => {
  fleet = await LocalFleet.start({ guessLimit: GUESS_LIMIT, tickMs: 50 }, 90_000);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
});

type When = 'in-flight' | 'after-answer';

/**
 * A client through a follower whose transport kills the leader (SIGKILL) at `when` of the first
 * request to `path`, and starts it again at once; with `entryToo`, the follower the client talks
 * to (which forwarded the request) is killed with it. The transport then retries like any client.
 */
async function crashingClient(
  path: EscrowPath,
  when: When,
  entryToo: boolean,
): Promise<{ client: BackupClient; crashed: () => boolean }> {
  const leader = await fleet.leader();
  const entry = running(fleet).find((m) => m !== leader) as LocalMember;
  const inner = retryingTransport(entry.clientUrl);
  let crashed = false;
  const crash = async (victims: LocalMember[]) => {
    crashed = true;
    await crashAndRestart(fleet, victims);
  };
  const transport: Transport = async (p, body) => {
    if (p !== path || crashed) return inner(p, body);
    if (when === 'after-answer') {
      const answer = await inner(p, body);
      await crash([leader]);
      return answer;
    }
    const answer = inner(p, body);
    await new Promise((r) => setTimeout(r, 5));
    await crash(entryToo ? [leader, entry] : [leader]);
    return answer;
  };
  return { client: backupClient(fleet, entry, transport), crashed: () => crashed };
}

async function recovers(userId: string): Promise<void> {
  const expected = acknowledged.get(userId);
  if (!expected) throw new Error(`${userId} was not acknowledged`);
  const key = await backupClient(fleet, running(fleet)[0] as LocalMember).recover(userId, expected.password);
  expect(Buffer.from(key).toString('hex'), userId).toBe(Buffer.from(expected.key).toString('hex'));
}

// Registration's steps: in flight at every step that commits or holds state in the leader, after
// the answer at the steps only registration has (its login's are the recover cases below).
const registerCrashes: [EscrowPath, When][] = [
  [ESCROW_PATHS.registerStart, 'after-answer'],
  [ESCROW_PATHS.registerFinish, 'in-flight'],
  [ESCROW_PATHS.registerFinish, 'after-answer'],
  [ESCROW_PATHS.recoverStart, 'in-flight'],
  [ESCROW_PATHS.recoverFinish, 'in-flight'],
  [ESCROW_PATHS.backupKey, 'in-flight'],
  [ESCROW_PATHS.backupKey, 'after-answer'],
];
const recoverSteps: EscrowPath[] = [ESCROW_PATHS.recoverStart, ESCROW_PATHS.recoverFinish];
const whens: When[] = ['in-flight', 'after-answer'];

describe('crashes during registration and recovery lose no acknowledged state', () => {
  for (const [path, when] of registerCrashes) {
    it(`register: leader killed ${when} at ${path}`, async () => {
      const userId = `reg-${path.split('/').slice(3).join('-')}-${when}`;
      const password = `pw ${userId}`;
      const key = crypto.getRandomValues(new Uint8Array(32));
      const { client, crashed } = await crashingClient(path, when, false);
      const outcome = await client.register(userId, password, key).then(
        () => 'ok',
        (e: unknown) => (e instanceof BackupError ? e.code : Promise.reject(e)),
      );
      expect(crashed()).toBe(true);
      await fleet.leader(30_000);
      if (outcome === 'ok') {
        acknowledged.set(userId, { password, key });
        await recovers(userId);
      }
    });
  }

  for (const path of recoverSteps) {
    for (const when of whens) {
      it(`recover: leader${when === 'in-flight' ? ' and the forwarding member' : ''} killed ${when} at ${path}`, async () => {
        const userId = `rec-${path.split('/').at(-1)}-${when}`;
        const password = `pw ${userId}`;
        const key = crypto.getRandomValues(new Uint8Array(32));
        await backupClient(fleet, running(fleet)[1] as LocalMember).register(userId, password, key);
        acknowledged.set(userId, { password, key });
        const { client, crashed } = await crashingClient(path, when, when === 'in-flight');
        const recovered = await client.recover(userId, password).catch((e: unknown) => {
          if (e instanceof BackupError) return null; // e.g. the login state died with the leader
          throw e;
        });
        expect(crashed()).toBe(true);
        if (recovered) expect(Buffer.from(recovered)).toEqual(Buffer.from(key));
        await fleet.leader(30_000);
        await recovers(userId); // a crashed recover costs at most an attempt, never the record
      });
    }
  }

  it('keeps acknowledged wrong guesses spent across a crash of every member at once', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    await backupClient(fleet, running(fleet)[2] as LocalMember).register('counted', 'pw counted', key);
    const spent = 2;
    for (let i = 0; i < spent; i++) {
      await expect(
        backupClient(fleet, running(fleet)[i] as LocalMember).recover('counted', `wrong ${i}`),
      ).rejects.toMatchObject({ code: 'wrong-password' });
    }
    await settled(fleet);
    await crashAndRestart(fleet, fleet.members);
    await settled(fleet, 90_000);
    const before = loginEvaluations(fleet);
    const remaining = await wrongGuessesUntilLocked(fleet, 'counted', 3 * GUESS_LIMIT);
    expect(remaining).toBeGreaterThanOrEqual(1);
    expect(remaining).toBeLessThanOrEqual(GUESS_LIMIT - spent);
    expect(loginEvaluations(fleet) - before).toBe(remaining);
  });

  it('recovers every acknowledged registration after all that', async () => {
    expect(acknowledged.size).toBeGreaterThanOrEqual(recoverSteps.length * whens.length);
    for (const userId of acknowledged.keys()) await recovers(userId);
  });
});
