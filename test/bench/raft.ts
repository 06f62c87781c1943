// Raft benchmark: 7 real member processes on loopback (127.0.0.11..17), fsync on, default
// timeouts (100 ms tick, election after 10-20 ticks). Prints commit latency p50/p99 and throughput
// at 1, 16 and 128 concurrent proposers, and failover time from kill -9 of the leader to the first
// commit of a write proposed after the kill.
//
//   npm exec -- node test/bench/raft.ts [--auth mac,openssl,noble] [--seconds N] [--failovers N]
//                                       [--data-root DIR]
//
// --data-root /dev/shm puts the members' data on tmpfs, where fsync returns at once: not a
// durable configuration, but it separates the disk's share of the latency from ours.
//
// Latency is measured inside the leader process (/admin/load: propose to applied result), so it is
// Raft's commit latency without an HTTP client in the loop. Figures depend heavily on what else the
// machine runs; the load average is printed with them, and so is the CPU time all seven members
// spent per commit (from /proc), which depends much less on the neighbours: on an otherwise idle
// 2-core machine, 2000 / (CPU-ms per commit) bounds the throughput.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  isTestAuthBackend,
  TEST_AUTH_BACKENDS,
  type TestAuthBackend,
} from '../../vault-node/src/raft/transport/test-auth-backend.ts';
import { ClusterClient, http, ProcessCluster, sleep } from '../integration/raft/process-cluster.ts';
import { percentile, report } from './report.ts';

const { values } = parseArgs({
  options: {
    auth: { type: 'string', default: 'mac' },
    seconds: { type: 'string', default: '5' },
    failovers: { type: 'string', default: '3' },
    'data-root': { type: 'string', default: tmpdir() },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm exec -- node test/bench/raft.ts [--auth mac,openssl,noble] [--seconds N] [--failovers N] [--data-root DIR]\n',
  );
  process.exit(0);
}
const backends = values.auth.split(',');
if (!backends.every(isTestAuthBackend))
  throw new Error(`--auth must list some of ${TEST_AUTH_BACKENDS.join(', ')}`);
const seconds = Number(values.seconds);
const failovers = Number(values.failovers);
const CONCURRENCY = [1, 16, 128];

const progress = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Row {
  auth: string;
  what: string;
  p50: string;
  p99: string;
  throughput: string;
  note: string;
}
const rows: Row[] = [];

/** CPU seconds (user + system) the members' processes have used so far, from /proc. */
function membersCpuSeconds(c: ProcessCluster): number {
  let ticks = 0;
  for (const m of c.alive) {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${m.proc!.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** The leader's log-append histogram (write + fdatasync per Ready), from its /metrics. */
async function appendHistogram(url: string): Promise<{ sum: number; count: number }> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const value = (name: string) =>
    Number(
      new RegExp(`^keyfleet_vault_raft_append_duration_seconds_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  return { sum: value('sum'), count: value('count') };
}

async function runBackend(auth: TestAuthBackend): Promise<void> {
  const dir = await mkdtemp(join(values['data-root'], 'kf-raft-bench-'));
  const c = new ProcessCluster({
    size: 7,
    dir,
    basePort: 20_000 + Math.floor(Math.random() * 20_000),
    authBackend: auth,
  });
  try {
    progress(`${auth}: starting 7 members`);
    // Not startAll(): on a loaded shared machine seven members can take longer than its 15 s to load.
    for (const m of c.members) c.start(m.id);
    await c.waitReady(
      c.members.map((m) => m.id),
      120_000,
    );
    let leader = await c.waitLeader(30_000);
    progress(`${auth}: leader ${leader}`);
    await http('POST', `${c.member(leader).url}/admin/load`, { concurrency: 16, durationMs: 1000 }, 30_000); // warm-up
    for (const concurrency of CONCURRENCY) {
      leader = await c.waitLeader();
      const load = [loadavg()[0]!.toFixed(1)];
      const appendsBefore = await appendHistogram(c.member(leader).url);
      const cpuBefore = membersCpuSeconds(c);
      const r = (await http(
        'POST',
        `${c.member(leader).url}/admin/load`,
        { concurrency, durationMs: seconds * 1000, valueBytes: 64 },
        seconds * 1000 + 60_000,
      )) as { latenciesMs: number[]; failures: number; elapsedMs: number };
      load.push(loadavg()[0]!.toFixed(1));
      const cpuMsPerCommit = ((membersCpuSeconds(c) - cpuBefore) * 1000) / Math.max(1, r.latenciesMs.length);
      const appendsAfter = await appendHistogram(c.member(leader).url);
      const appends = appendsAfter.count - appendsBefore.count;
      const appendMs = appends > 0 ? ((appendsAfter.sum - appendsBefore.sum) * 1000) / appends : 0;
      const lat = r.latenciesMs.sort((a, b) => a - b);
      const throughput = (lat.length / r.elapsedMs) * 1000;
      for (const p of [50, 99]) {
        report({
          bench: 'raft',
          name: `commit p${p}, ${concurrency} proposers (${auth})`,
          value: percentile(lat, p),
          unit: 'ms',
          ...(concurrency === 16 && p === 99 ? { goal: '< 10 ms' } : {}),
        });
      }
      report({
        bench: 'raft',
        name: `throughput, ${concurrency} proposers (${auth})`,
        value: Math.round(throughput),
        unit: 'commits/s',
        ...(concurrency === 128 ? { goal: '>= 5000/s' } : {}),
      });
      report({
        bench: 'raft',
        name: `CPU per commit, all 7 members, ${concurrency} proposers (${auth})`,
        value: cpuMsPerCommit,
        unit: 'ms',
      });
      rows.push({
        auth,
        what: `${concurrency} proposer${concurrency > 1 ? 's' : ''}`,
        p50: `${percentile(lat, 50).toFixed(2)} ms`,
        p99: `${percentile(lat, 99).toFixed(2)} ms`,
        throughput: `${Math.round(throughput)} commits/s`,
        note:
          `${lat.length} commits, ${r.failures} failed, ${cpuMsPerCommit.toFixed(2)} CPU-ms/commit (all 7), ` +
          `leader: ${(lat.length / Math.max(1, appends)).toFixed(1)} commits per log write, ${appendMs.toFixed(2)} ms per write+fdatasync, ` +
          `load avg ${load.join('→')}`,
      });
      progress(
        `${auth}: ${concurrency} proposers: ${rows[rows.length - 1]!.throughput}, p99 ${rows[rows.length - 1]!.p99}`,
      );
    }

    const times: number[] = [];
    const client = new ClusterClient(c);
    for (let i = 0; i < failovers; i++) {
      leader = await c.waitLeader();
      await client.request('/v1/kv/before', { value: String(i) }, 'PUT');
      const killedAt = performance.now();
      await c.kill(leader);
      // First write proposed after the kill that commits: a follower's NotLeader redirect names the
      // dead leader until the election, so the client rotates over live members.
      for (;;) {
        const live = c.alive.map((m) => m.url);
        const attempts = live.map((url) =>
          http('PUT', `${url}/v1/kv/after-${i}`, { value: String(i) }, 1000).then(
            () => true,
            () => false,
          ),
        );
        if ((await Promise.all(attempts)).some(Boolean)) break;
        await sleep(10);
      }
      times.push(performance.now() - killedAt);
      progress(`${auth}: failover ${i + 1}: ${times[times.length - 1]!.toFixed(0)} ms`);
      c.start(leader);
      await c.waitReady([leader], 120_000);
      await sleep(1000);
    }
    times.sort((a, b) => a - b);
    if (times.length > 0) reportFailover(auth, times);
  } finally {
    await c.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

function reportFailover(auth: string, times: number[]): void {
  report({
    bench: 'raft',
    name: `failover median (${auth})`,
    value: percentile(times, 50),
    unit: 'ms',
    goal: '< 2000 ms',
  });
  report({ bench: 'raft', name: `failover max (${auth})`, value: times[times.length - 1]!, unit: 'ms' });
  rows.push({
    auth,
    what: 'failover (kill -9 leader → first new commit)',
    p50: `${percentile(times, 50).toFixed(0)} ms`,
    p99: `max ${times[times.length - 1]!.toFixed(0)} ms`,
    throughput: '',
    note: `${times.length} trials: ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
  });
}

progress(
  `load average before: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (2 cores, shared)`,
);
for (const b of backends) await runBackend(b);

const cols: (keyof Row)[] = ['auth', 'what', 'p50', 'p99', 'throughput', 'note'];
const width = cols.map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
const line = (r: Record<string, string>) => cols.map((k, i) => r[k]!.padEnd(width[i]!)).join(' | ');
process.stdout.write(
  `\nRaft benchmark: 7 members, data in ${values['data-root']}${values['data-root'].startsWith('/dev/shm') ? ' (tmpfs: fsync returns at once)' : ', fsync on'}, tick 100 ms, election 10 ticks, Node ${process.version}\n`,
);
process.stdout.write(
  `${line(Object.fromEntries(cols.map((k) => [k, k])))}\n${width.map((w) => '-'.repeat(w)).join('-|-')}\n`,
);
for (const r of rows) process.stdout.write(`${line(r as unknown as Record<string, string>)}\n`);
process.stdout.write(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}\n`,
);
