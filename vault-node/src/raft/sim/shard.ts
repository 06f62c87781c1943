// Runs a share of the seeded schedules inside vitest. Environment:
//   SIM_SCHEDULES  how many schedules in all (default 600); raise it for a soak
//   SIM_FIRST_SEED first seed (default 1)
//   SIM_SEED       run just this seed (and print its trace with SIM_TRACE=1)

import { expect, it } from 'vitest';
import { runSchedule, type SimStats } from './simulation.ts';

export const DEFAULT_SCHEDULES = 600;

export function runShard(shard: number, shards: number): void {
  const only = process.env.SIM_SEED;
  const tracing = process.env.SIM_TRACE === '1';
  const first = Number(process.env.SIM_FIRST_SEED ?? 1);
  const count = Number(process.env.SIM_SCHEDULES ?? DEFAULT_SCHEDULES);
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: count }, (_, i) => first + i);
  const mine = seeds.filter((s) => s % shards === shard);
  it(`${mine.length} seeded schedules (shard ${shard + 1} of ${shards})`, { timeout: 3_600_000 }, () => {
    const total: Partial<Record<keyof SimStats, number>> = {};
    const started = performance.now();
    for (const seed of mine) {
      const r = runSchedule(seed, tracing);
      for (const [k, v] of Object.entries(r.stats) as [keyof SimStats, number][])
        total[k] = (total[k] ?? 0) + v;
      if (tracing) console.log(r.trace.join('\n'));
      if (!r.ok) {
        const sc = r.scenario;
        const tail = tracing ? '' : `\nlast events:\n${r.trace.slice(-40).join('\n')}`;
        expect.fail(
          `simulation failed, seed ${seed} (${sc.members} members, loss ${sc.loss}, dup ${sc.duplicate}, ` +
            `partitions ${sc.partitions}, crashes ${sc.crashes}, torn ${sc.tornWrites}, membership ${sc.membership}, ` +
            `transfers ${sc.transfers}):\n${r.error}\nreplay: SIM_SEED=${seed} npx vitest run --project vault-node sim` +
            ` (SIM_TRACE=1 prints every event)${tail}`,
        );
      }
    }
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `raft sim shard ${shard + 1}/${shards}: ${mine.length} schedules in ${secs} s; ${JSON.stringify(total)}`,
    );
  });
}
