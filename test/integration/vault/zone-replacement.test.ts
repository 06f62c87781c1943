// A zone replaced while the zone that leaves still leads, on real processes, step by step as the
// operator does it (operator/src/controllers/vaultfleet/rollout.ts): the new member starts with the
// new spec as its peer list (which lacks the leader), is added as a learner, catches up, is
// promoted; leadership moves off the leaving member, which is then removed and stopped. A key
// escrowed before the change recovers through the new member afterwards.
//
// This is the case that stalled on the cluster (issue 8): the learner refused every append from
// a leader it was not configured with, so it never caught up and the promotion timed out.
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleet, type LocalMember, retry } from '../../fleet/local-fleet.ts';
import { backupClient } from './fleet-probe.ts';

let fleet: LocalFleet;

beforeAll(async () => {
  fleet = await LocalFleet.start({ size: 3, spares: 1, tickMs: 50 }, 90_000);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
});

/**
 * A membership change through `leader`, retried while a leader just elected has not committed an
 * entry of its term yet (Raft refuses changes until then; the operator retries the same way).
 */
async function changeMembership(leader: LocalMember, kind: string, member: LocalMember): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fleet.admin(leader).call('POST', HttpPath.adminMembership, { kind, member: member.id });
      return;
    } catch (e) {
      const termNotCommitted = e instanceof Error && /not yet committed an entry of its term/.test(e.message);
      if (!termNotCommitted || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('a zone replaced while the leaving zone leads', () => {
  it('the new member catches up from a leader it was not configured with; the key recovers through it', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    await backupClient(fleet, fleet.initial[0]!).register('grace', 'correct horse', key);

    const leaving = await fleet.leader();
    const staying = fleet.initial.filter((m) => m !== leaving);
    const joining = fleet.members[3]!;
    await fleet.startJoining(joining, staying);
    await changeMembership(leaving, 'add-learner', joining);

    // Caught up: the learner has applied everything the leader had committed (the registration
    // included), and knows itself as a learner from the log.
    await retry(async () => {
      const [learner, leader] = await Promise.all([fleet.status(joining), fleet.status(leaving)]);
      if (!learner.membership.learners.includes(joining.id) || learner.appliedIndex < leader.commitIndex) {
        throw new Error(`learner at ${learner.appliedIndex}, leader committed ${leader.commitIndex}`);
      }
    }, 30_000);
    await changeMembership(leaving, 'promote', joining);

    const next = staying[0]!;
    await fleet.admin(leaving).call('POST', HttpPath.adminTransferLeadership, { to: next.id });
    await changeMembership(next, 'remove', leaving);
    await fleet.kill(leaving);

    // The new member learns of the removal when it applies it, a moment after the leader commits.
    const voters = [...staying, joining].map((m) => m.id).sort();
    await retry(async () => {
      const seen = (await fleet.status(joining)).membership.voters.sort();
      if (seen.join() !== voters.join()) throw new Error(`${joining.id} sees voters ${seen.join()}`);
    }, 10_000);
    expect(await backupClient(fleet, joining).recover('grace', 'correct horse')).toEqual(key);
  }, 120_000);
});
