// Real processes: a 7-member fleet of vault-node/src/raft/node/main.ts on 127.0.0.11..17 under a
// write load, while members are killed with SIGKILL and restarted, the leader is killed
// repeatedly, a minority is partitioned off, and the fleet is split three ways so that no side
// has a majority. Partitions go through each member's test-only /admin/partition endpoint, which
// makes its transport drop traffic to and from the named members in both directions (chosen over
// SIGSTOP because a stopped process is a crash-like pause, not a network split: it cannot keep
// campaigning on its side). A leader frozen with SIGSTOP is exercised as well.
//
// Afterwards every write that was acknowledged must be on every member, and every acknowledged
// increment must have returned a distinct value no larger than the final counter.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterClient, HttpStatusError, http, ProcessCluster, sleep } from './process-cluster.ts';

const SIZE = 7;
const SNAPSHOT_ENTRIES = 100;
const BURST = 250;

describe('7-member Raft fleet of real processes under faults', () => {
  let cluster: ProcessCluster | undefined;
  let dir = '';
  afterAll(async () => {
    await cluster?.stopAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged write through kill -9, leader kills, partitions and a frozen leader', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kf-raft-faults-'));
    const c = new ProcessCluster({
      size: SIZE,
      dir,
      basePort: 20_000 + Math.floor(Math.random() * 20_000),
      snapshotEntries: SNAPSHOT_ENTRIES,
      authBackend: 'openssl',
    });
    cluster = c;
    const ids = c.members.map((m) => m.id);
    const log = (msg: string) =>
      process.stderr.write(`[faults ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
    await c.startAll();
    log(`leader ${await c.waitLeader(30_000)}`);

    // ---- write load: puts through a redirect-following client, increments without retries
    const acked = new Map<string, string>();
    const incrAcks: number[] = [];
    const ackTimes: { started: number; done: number }[] = [];
    let stop = false;
    let unknown = 0;
    const writer = async (w: number) => {
      const client = new ClusterClient(c);
      for (let seq = 0; !stop; seq++) {
        const key = `w${w}-${seq}`;
        const value = `v${w}-${seq}-${'x'.repeat(seq % 50)}`;
        const started = Date.now();
        try {
          await client.request(`/v1/kv/${key}`, { value }, 'PUT', 8000);
          acked.set(key, value);
          ackTimes.push({ started, done: Date.now() });
        } catch {
          unknown++;
        }
      }
    };
    const incrementer = async () => {
      let guess = ids[0]!;
      while (!stop) {
        try {
          const r = await http('POST', `${c.member(guess).url}/v1/counter/hits/incr`, {}, 3000);
          incrAcks.push(r.value as number);
        } catch (e) {
          const leader =
            e instanceof HttpStatusError ? (e.body as { leader?: { id?: string } }).leader?.id : undefined;
          guess = leader ?? ids[(ids.indexOf(guess) + 1) % ids.length]!;
          if (!leader) await sleep(50);
        }
      }
    };
    const load = Promise.all([writer(0), writer(1), writer(2), writer(3), incrementer()]);
    const acksNow = () => acked.size;
    let laggardId = '';

    // ---- 1. kill -9 random members (at most two down at once) and restart them, for ~10 s
    const killPhaseEnd = Date.now() + 10_000;
    for (let round = 0; round < 2 || Date.now() < killPhaseEnd; round++) {
      const victims = [...ids].sort(() => Math.random() - 0.5).slice(0, 2);
      log(`kill -9 ${victims.join(', ')}`);
      await Promise.all(victims.map((v) => c.kill(v)));
      await sleep(1200);
      await Promise.all(victims.map((v) => c.restart(v)));
      await sleep(500);
    }
    log(`acks so far ${acksNow()}`);

    // ---- 1b. a follower down while the leader compacts past its log catches up by snapshot
    {
      const leader = await c.waitLeader();
      laggardId = ids.find((id) => id !== leader)!;
      log(`kill -9 ${laggardId}, then a burst of ${BURST} writes (snapshots every ${SNAPSHOT_ENTRIES})`);
      await c.kill(laggardId);
      const client = new ClusterClient(c);
      await Promise.all(
        Array.from({ length: 50 }, async (_, w) => {
          for (let i = w; i < BURST; i += 50) {
            await client.request(`/v1/kv/burst-${i}`, { value: `b${i}` }, 'PUT', 30_000);
            acked.set(`burst-${i}`, `b${i}`);
          }
        }),
      );
      await c.restart(laggardId);
    }

    // ---- 2. kill the leader, repeatedly
    for (let round = 0; round < 3; round++) {
      const leader = await c.waitLeader();
      log(`kill -9 leader ${leader}`);
      await c.kill(leader);
      const next = await c.waitLeader();
      log(`new leader ${next}`);
      await c.restart(leader);
      await sleep(500);
    }
    log(`acks so far ${acksNow()}`);

    // ---- 3. partition a minority that holds the leader away from the majority
    {
      const leader = await c.waitLeader();
      const minority = [leader, ...ids.filter((id) => id !== leader).slice(0, 2)];
      log(`partition minority ${minority.join(', ')} from the rest`);
      const before = acksNow();
      await c.partition(minority);
      // The majority side elects its own leader and keeps acknowledging writes.
      const until = Date.now() + 20_000;
      let majorityLeader = await c.leader();
      while (majorityLeader === undefined || minority.includes(majorityLeader) || acksNow() <= before) {
        if (Date.now() > until) throw new Error(`majority side made no progress (leader ${majorityLeader})`);
        await sleep(100);
        majorityLeader = await c.leader();
      }
      log(`leader during minority partition: ${majorityLeader}`);
      await sleep(2000);
      await c.heal();
      await sleep(1000);
    }

    // ---- 4. split three ways (3/2/2): no side has a majority, nothing new may commit
    {
      const groups = [ids.slice(0, 3), ids.slice(3, 5), ids.slice(5, 7)];
      log(`split ${groups.map((g) => g.join('+')).join(' | ')}`);
      await Promise.all(
        c.alive.map((m) =>
          http('POST', `${m.url}/admin/partition`, {
            blocked: ids.filter((id) => !groups.find((g) => g.includes(m.id))!.includes(id)),
          }),
        ),
      );
      const splitAt = Date.now();
      await sleep(4000);
      const healAt = Date.now();
      // A write proposed after the split cannot reach a majority, so none may be acknowledged.
      const impossible = ackTimes.filter((a) => a.started > splitAt + 100 && a.done < healAt);
      expect(impossible).toEqual([]);
      await c.heal();
      log(`healed; leader ${await c.waitLeader()}`);
    }

    // ---- 5. freeze the leader (SIGSTOP) past an election timeout, then thaw it
    {
      const leader = await c.waitLeader();
      log(`SIGSTOP leader ${leader}`);
      c.member(leader).proc!.kill('SIGSTOP');
      await sleep(3000);
      const next = await c.waitLeader();
      log(`leader while ${leader} is frozen: ${next}`);
      c.member(leader).proc!.kill('SIGCONT');
      await sleep(1500);
    }

    stop = true;
    await load;
    log(`acked puts ${acked.size}, acked increments ${incrAcks.length}, unknown outcomes ${unknown}`);
    expect(acked.size).toBeGreaterThan(100);

    // ---- every member converges and holds every acknowledged write
    for (const m of c.members) if (!m.proc) await c.restart(m.id);
    const leader = await c.waitLeader();
    const barrier = await new ClusterClient(c).request(
      '/v1/kv/final-barrier',
      { value: 'done' },
      'PUT',
      15_000,
    );
    expect(barrier).toEqual({ ok: true });
    const target = ((await c.status(leader)) as { commit: number }).commit;
    const dumps = new Map<string, Awaited<ReturnType<ProcessCluster['dump']>>>();
    const end = Date.now() + 30_000;
    for (const id of ids) {
      for (;;) {
        const d = await c.dump(id).catch(() => undefined);
        if (d && d.applied >= target) {
          dumps.set(id, d);
          break;
        }
        if (Date.now() > end) throw new Error(`${id} did not catch up to ${target} (at ${d?.applied})`);
        await sleep(100);
      }
    }
    for (const [id, d] of dumps) {
      const missing = [...acked].filter(([k, v]) => d.kv[k] !== v).map(([k]) => k);
      expect(missing, `acknowledged writes missing or wrong on ${id}`).toEqual([]);
      expect(d.kv['final-barrier']).toBe('done');
    }
    const finals = [...dumps.values()].map((d) => d.counters.hits ?? 0);
    expect(new Set(finals).size, 'members disagree on the counter').toBe(1);
    expect(new Set(incrAcks).size, 'an increment was acknowledged twice with one value').toBe(
      incrAcks.length,
    );
    expect(Math.max(0, ...incrAcks)).toBeLessThanOrEqual(finals[0]!);
    const laggardMetrics = await (await fetch(`${c.member(laggardId).url}/metrics`)).text();
    const installed = Number(/keyfleet_vault_raft_snapshots_installed_total (\d+)/.exec(laggardMetrics)?.[1]);
    expect(installed, `${laggardId} should have caught up from a snapshot`).toBeGreaterThanOrEqual(1);
    const restarts = c.members.reduce((n, m) => n + m.starts - 1, 0);
    log(
      `verified ${acked.size} puts and ${incrAcks.length} increments on all ${SIZE} members (${restarts} restarts)`,
    );
  });
});
