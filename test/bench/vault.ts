// Vault fleet benchmark: a seven-member fleet of real vault-node processes on this machine
// (test/fleet/local-fleet.ts, production Raft tick), driven by BackupClients in this process.
//
//   npm exec -- node test/bench/vault.ts [--recoveries N] [--concurrency C] [--users U]
//                                        [--sweep C1,C2,...] [--data-root DIR]
//
// Figures: registrations/s (a full BackupClient.register: register start + finish, a login's
// start + finish, the backup key upload: five requests, three commits), and recoveries/s with the
// p50/p99 latency of a full recover (start + finish, each a commit, plus the client's checks),
// measured twice: clients sending straight to the leader, and clients spread over all members as
// behind the fleet's Service (followers forward to the leader: one more hop). --sweep repeats the
// leader run with fewer clients (each at most C), for the latency a lighter load sees: at C
// clients the mean latency is C / throughput (Little's law), so a p99 goal holds only below some C.
//
// Client side: Argon2id is the cheap test setting (CHEAP_STRETCHING, the same for registration
// and login) instead of the ~200 ms production cost, which is the client's own time and not the
// fleet's. The rest of the client's OPAQUE work (startLogin, finishLogin, signature checks) stays
// in the timed loop: finishLogin needs the server's response, and startLogin costs well under a
// millisecond. Each virtual client has its own loopback source address, as distinct users would:
// the members rate-limit per source address (50/s), which one address would otherwise hit.
//
// The machine is shared, so wall-clock figures say as much about the neighbours as about us. Each
// run also prints the CPU time the seven members spent per operation (from /proc), which depends
// much less on them (heartbeats during the run included): on an otherwise idle 2-core machine,
// 2000 / (CPU-ms per recovery) bounds the recoveries/s. --data-root /dev/shm puts the members' data on tmpfs (fsync returns at once: not
// durable, but it separates the disk's share of the latency).
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupClient, type Transport } from '@keyfleet/sdk/backup/client';
import { CHEAP_STRETCHING } from '../../vault-node/src/escrow/testing.ts';
import { LocalFleet, type LocalMember } from '../fleet/local-fleet.ts';
import { percentile, report } from './report.ts';

const { values } = parseArgs({
  options: {
    recoveries: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '32' },
    sweep: { type: 'string', default: '' },
    users: { type: 'string', default: '128' },
    'data-root': { type: 'string', default: tmpdir() },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm exec -- node test/bench/vault.ts [--recoveries N] [--concurrency C] [--users U] [--sweep C1,C2] [--data-root DIR]\n',
  );
  process.exit(0);
}
const RECOVERIES = Number(values.recoveries);
const CONCURRENCY = Number(values.concurrency);
const USERS = Math.max(Number(values.users), CONCURRENCY);
const SWEEP = values.sweep === '' ? [] : values.sweep.split(',').map(Number);
if (!SWEEP.every((c) => Number.isInteger(c) && c >= 1 && c <= CONCURRENCY))
  throw new Error(`--sweep: client counts from 1 to --concurrency (${CONCURRENCY})`);

/** Answers 503 (no leader, commit timeout) and 429 that a client retried, by status and code. */
let retried = new Map<string, number>();
const retriedText = () =>
  [...retried].map(([k, n]) => `${n} x ${k}`).join(', ') || 'no 503/429 answers retried';

/** One POST of JSON over node:http from a given local (source) address, with keep-alive. */
function postOnce(agent: Agent, url: string, localAddress: string, data: string) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          try {
            parsed = text === '' ? null : JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * The transport of a client at `localAddress`: retries 503 and 429 for up to 30 s as a real client
 * does while the fleet elects a leader or is overloaded (the retries are inside the timings).
 */
function sourceTransport(baseUrl: string, localAddress: string): Transport {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  return async (path, body) => {
    const data = JSON.stringify(body);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await postOnce(agent, baseUrl + path, localAddress, data);
      if ((answer.status !== 503 && answer.status !== 429) || Date.now() > deadline) return answer;
      const code = (answer.body as { error?: { code?: string } } | null)?.error?.code ?? '?';
      retried.set(`${answer.status} ${code}`, (retried.get(`${answer.status} ${code}`) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  };
}

/** CPU milliseconds (user + system, all threads) member `m` has spent so far, from /proc. */
function memberCpuMs(m: LocalMember): number {
  if (!m.process?.pid) return 0;
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const stat = readFileSync(`/proc/${m.process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
}

/** CPU milliseconds the running members have spent so far. */
function membersCpuMs(fleet: LocalFleet): number {
  return fleet.members.reduce((sum, m) => sum + memberCpuMs(m), 0);
}

/** CPU milliseconds of this (client) process so far. */
function clientCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function line(name: string, n: number, seconds: number, latencies: number[], cpuMs: number): void {
  const s = [...latencies].sort((a, b) => a - b);
  const ms = (p: number) => percentile(s, p).toFixed(1).padStart(7);
  process.stdout.write(
    `${name.padEnd(36)} n=${String(n).padStart(5)}  ${(n / seconds).toFixed(1).padStart(7)} /s  ` +
      `p50 ${ms(50)} ms  p99 ${ms(99)} ms  members' CPU ${(cpuMs / n).toFixed(1)} ms/op\n`,
  );
}

/** Runs `total` jobs on `concurrency` workers; returns wall seconds and per-job latencies (ms). */
async function drive(
  total: number,
  concurrency: number,
  job: (worker: number, i: number) => Promise<void>,
): Promise<{ seconds: number; latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = next++; i < total; i = next++) {
        const t = performance.now();
        try {
          await job(worker, i);
          latencies.push(performance.now() - t);
        } catch (e) {
          failures++;
          if (failures <= 3)
            process.stderr.write(`job failed: ${e instanceof Error ? e.message : String(e)}\n`);
        }
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, failures };
}

process.stdout.write(
  `vault fleet benchmark: 7 vault-node processes + this client process on ${cpus().length} cores ` +
    `(shared machine: load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}), node ${process.version}\n` +
    `client Argon2id: cheap test setting; concurrency ${CONCURRENCY}, ${USERS} users, ${RECOVERIES} recoveries per run\n`,
);

const fleet = await LocalFleet.start(
  { guessLimit: 10, root: mkdtempSync(join(values['data-root'], 'keyfleet-vault-bench-')) },
  120_000,
);
try {
  const leader = await fleet.leader();
  const subnet = (fleet.members[0] as LocalMember).host.replace(/\.\d+$/, '');
  const trusted = fleet.trustedMembers();
  /** Worker w's client: its own source address, to `target(w)`. */
  const clients = (target: (w: number) => LocalMember) =>
    Array.from(
      { length: CONCURRENCY },
      (_, w) =>
        new BackupClient({
          fleetId: fleet.fleetId,
          trustedMembers: trusted,
          transport: sourceTransport(target(w).clientUrl, `${subnet}.${100 + w}`),
          keyStretching: CHEAP_STRETCHING,
        }),
    );
  const spread = clients((w) => fleet.members[w % fleet.members.length] as LocalMember);
  const direct = clients(() => leader);

  const password = (u: number) => `bench password ${u}`;
  // Heartbeats (signed and verified) cost CPU when nothing happens; the per-op figures below
  // include them (subtracting an idle baseline proved too noisy on a shared machine).
  await new Promise((r) => setTimeout(r, 2000));
  const idleStart = membersCpuMs(fleet);
  await new Promise((r) => setTimeout(r, 3000));
  process.stdout.write(
    `members' CPU when idle: ${((membersCpuMs(fleet) - idleStart) / 3).toFixed(0)} ms/s\n`,
  );
  let cpu = membersCpuMs(fleet);
  const registered: number[] = [];
  const registration = await drive(USERS, CONCURRENCY, async (w, u) => {
    await (spread[w] as BackupClient).register(
      `bench-${u}`,
      password(u),
      crypto.getRandomValues(new Uint8Array(32)),
    );
    registered.push(u);
  });
  line(
    'register (any member)',
    registration.latencies.length,
    registration.seconds,
    registration.latencies,
    membersCpuMs(fleet) - cpu,
  );
  process.stdout.write(`  ${registration.failures} failed; retried: ${retriedText()}\n`);
  if (registration.latencies.length < CONCURRENCY)
    throw new Error('too few registrations to benchmark recoveries');
  report({
    bench: 'vault',
    name: 'registrations/s (7 members, any member)',
    value: registration.latencies.length / registration.seconds,
    unit: '/s',
  });

  // Only registered users are recovered. Worker w logs in as the users u = w (mod C), so no two
  // workers log in as one user at once (a worker with none takes any: concurrent logins are fine).
  const mine = (w: number) => registered.filter((u) => u % CONCURRENCY === w);
  const pools = Array.from({ length: CONCURRENCY }, (_, w) => (mine(w).length > 0 ? mine(w) : registered));
  const user = (w: number, i: number) => {
    const pool = pools[w] as number[];
    return pool[Math.floor(i / CONCURRENCY) % pool.length] as number;
  };
  for (const [label, set] of [
    ['leader', direct],
    ['any member', spread],
  ] as const) {
    await drive(CONCURRENCY * 2, CONCURRENCY, async (w, i) => {
      const u = user(w, i);
      await (set[w] as BackupClient).recover(`bench-${u}`, password(u));
    }); // warm-up: connections, JIT
    cpu = membersCpuMs(fleet);
    const leaderCpu = memberCpuMs(leader);
    const clientCpu = clientCpuMs();
    retried = new Map();
    const run = await drive(RECOVERIES, CONCURRENCY, async (w, i) => {
      const u = user(w, i);
      await (set[w] as BackupClient).recover(`bench-${u}`, password(u));
    });
    const cpuPerRecovery = (membersCpuMs(fleet) - cpu) / run.latencies.length;
    line(
      `recover (${label})`,
      run.latencies.length,
      run.seconds,
      run.latencies,
      cpuPerRecovery * run.latencies.length,
    );
    const perOp = (ms: number) => (ms / run.latencies.length).toFixed(1);
    process.stdout.write(
      `  of which the leader ${perOp(memberCpuMs(leader) - leaderCpu)} ms/op; ` +
        `client process (${CONCURRENCY} BackupClients) ${perOp(clientCpuMs() - clientCpu)} ms/op\n`,
    );
    process.stdout.write(`  ${run.failures} failed; retried: ${retriedText()}\n`);
    const sorted = [...run.latencies].sort((a, b) => a - b);
    report({
      bench: 'vault',
      name: `recoveries/s (7 members, ${label})`,
      value: run.latencies.length / run.seconds,
      unit: '/s',
      goal: '>= 300/s',
    });
    report({ bench: 'vault', name: `recover members' CPU (${label})`, value: cpuPerRecovery, unit: 'ms' });
    report({ bench: 'vault', name: `recover p50 (${label})`, value: percentile(sorted, 50), unit: 'ms' });
    report({
      bench: 'vault',
      name: `recover p99 (${label})`,
      value: percentile(sorted, 99),
      unit: 'ms',
      goal: '< 50 ms',
    });
  }
  for (const clients of SWEEP) {
    cpu = membersCpuMs(fleet);
    retried = new Map();
    const run = await drive(RECOVERIES, clients, async (w, i) => {
      const u = user(w, i);
      await (direct[w] as BackupClient).recover(`bench-${u}`, password(u));
    });
    line(
      `recover (leader, ${clients} clients)`,
      run.latencies.length,
      run.seconds,
      run.latencies,
      membersCpuMs(fleet) - cpu,
    );
    process.stdout.write(`  ${run.failures} failed; retried: ${retriedText()}\n`);
    const sorted = [...run.latencies].sort((a, b) => a - b);
    const name = `(7 members, leader, ${clients} clients)`;
    report({
      bench: 'vault',
      name: `recoveries/s ${name}`,
      value: run.latencies.length / run.seconds,
      unit: '/s',
    });
    report({ bench: 'vault', name: `recover p99 ${name}`, value: percentile(sorted, 99), unit: 'ms' });
  }
  process.stdout.write(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
} finally {
  await fleet.destroy();
}
