// Brings the cluster up from nothing before the cluster tests (and down after them, as a safety
// net: 99-teardown.test.ts tears it down and checks nothing is left).
// KEYFLEET_CLUSTER_REUSE=1 keeps a running cluster; KEYFLEET_CLUSTER_KEEP=1 leaves it up afterwards.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { down, up } from '../src/cluster.ts';
import { stateDir } from '../src/config.ts';
import { trackedPid } from '../src/proc.ts';

export async function setup(): Promise<void> {
  const reuse = process.env['KEYFLEET_CLUSTER_REUSE'] === '1' && trackedPid('kube-apiserver') !== undefined;
  if (!reuse) await down();
  const r = await up((m) => process.stderr.write(`cluster up: ${m}\n`));
  process.stderr.write(`cluster up in ${r.seconds.toFixed(1)}s; KUBECONFIG=${r.kubeconfig}\n`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'figures-up.json'), JSON.stringify({ reused: reuse, ...r }, null, 2));
}

export async function teardown(): Promise<void> {
  if (process.env['KEYFLEET_CLUSTER_KEEP'] === '1') return;
  await down();
}
