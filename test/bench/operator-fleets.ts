// Operator at scale: ten three-zone VaultFleets on the local cluster (30 vault-node pods), one
// operator process. Prints the time from creating them to all ten Ready, and the operator's
// resident memory and CPU while it keeps them (steady-state reconciles, status, member polling).
// Needs root (the local cluster); reuses a running cluster or brings one up and down again.
//   node test/bench/operator-fleets.ts [--fleets N] [--steady-seconds S]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { down, up } from '../cluster/src/cluster.ts';
import { applyCrd, customResourcePath, example, fleetReady } from '../cluster/src/keyfleet.ts';
import { Kube } from '../cluster/src/kube.ts';
import { trackedPid } from '../cluster/src/proc.ts';
import { ensureNamespace, until } from '../cluster/tests/helpers.ts';
import { startOperatorProcess } from '../cluster/tests/operator-process.ts';
import { report } from './report.ts';

const { values } = parseArgs({
  options: { fleets: { type: 'string', default: '10' }, 'steady-seconds': { type: 'string', default: '60' } },
});
const FLEETS = Number(values.fleets);
const STEADY_S = Number(values['steady-seconds']);
const NS = 'bench-fleets';
const ZONES = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'];
const CLOCK_TICKS = 100; // USER_HZ on Linux

if (process.getuid?.() !== 0) {
  console.log('operator-fleets: needs root (the local cluster); skipped, nothing measured');
  process.exit(0);
}

/** utime + stime of a process in seconds, and its resident set in MiB, from /proc. */
function usage(pid: number): { cpuSeconds: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
}

console.log(
  `operator-fleets: ${FLEETS} fleets of 3 zones; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
const reused = trackedPid('kube-apiserver') !== undefined;
if (!reused) await up((m) => console.log(`  cluster up: ${m}`));
const kube = new Kube();
const operator = startOperatorProcess(NS, 'bench-operator-fleets');
try {
  await applyCrd(kube, 'VaultFleet');
  await ensureNamespace(kube, NS);
  const base = example('vaultfleet-minimal.yaml', NS);
  const started = performance.now();
  for (let i = 0; i < FLEETS; i++) {
    const zones = [0, 1, 2].map((k) => ZONES[(i * 3 + k) % ZONES.length] as string);
    await kube.create(customResourcePath('VaultFleet', NS), {
      ...base,
      metadata: { name: `fleet-${i}`, namespace: NS },
      spec: { ...base.spec, zones, directoryRef: undefined },
    });
  }
  for (let i = 0; i < FLEETS; i++) {
    await until(`fleet-${i} ready`, () => fleetReady(kube, NS, `fleet-${i}`), 900_000, 2000);
  }
  const readySeconds = (performance.now() - started) / 1000;
  console.log(`  ${FLEETS} fleets Ready in ${readySeconds.toFixed(1)} s`);
  const pid = operator.child.pid as number;
  const before = usage(pid);
  let maxRss = before.rssMiB;
  for (let t = 0; t < STEADY_S; t += 5) {
    await new Promise((r) => setTimeout(r, 5000));
    maxRss = Math.max(maxRss, usage(pid).rssMiB);
  }
  const after = usage(pid);
  const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / STEADY_S) * 100;
  console.log(
    `  operator steady ${STEADY_S} s: CPU ${cpuPercent.toFixed(1)} % of one core, RSS max ${maxRss.toFixed(0)} MiB`,
  );
  const bench = 'operator-fleets';
  report({ bench, name: `${FLEETS} fleets x 3 zones: create to all Ready`, value: readySeconds, unit: 's' });
  report({ bench, name: `operator CPU, steady, ${FLEETS} fleets`, value: cpuPercent, unit: '% of a core' });
  report({ bench, name: `operator RSS max, ${FLEETS} fleets`, value: maxRss, unit: 'MiB' });
} finally {
  // Delete the fleets while the operator runs (its finalizer cleans up), then everything else.
  for (let i = 0; i < FLEETS; i++)
    await kube.delete(customResourcePath('VaultFleet', NS, `fleet-${i}`)).catch(() => false);
  await until(
    'the fleets deleted',
    async () => (await kube.list(customResourcePath('VaultFleet', NS))).items.length === 0,
    300_000,
    2000,
  ).catch((e: Error) => console.error(`  cleanup: ${e.message}`));
  await operator.stop();
  await kube.delete(`/api/v1/namespaces/${NS}`).catch(() => false);
  if (!reused) await down();
}
