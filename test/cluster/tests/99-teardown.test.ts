// Runs last: tears the cluster down and checks nothing is left behind: no process of ours, no
// network namespace, bridge, veth, route or nftables table, no mount of the state directory.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { down } from '../src/cluster.ts';
import { paths, stateDir } from '../src/config.ts';
import { listPodNetns } from '../src/network.ts';
import { run } from '../src/sh.ts';
import { binCache } from '../src/versions.ts';

function ourProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    // Ours: the cached binaries pointed at this cluster's state directory (others may run them for
    // their own tests), the agent, and the pods' processes.
    if (
      (cmd.includes(binCache()) && cmd.includes(stateDir)) ||
      cmd.includes('test/cluster/src/agent/main.ts') ||
      cmd.includes('test/cluster/src/testimage/')
    ) {
      found.push(`${pid}: ${cmd.slice(0, 120)}`);
    }
  }
  return found;
}

describe('teardown', () => {
  test('down leaves no process, namespace, link, route, nft table or mount behind', async () => {
    if (process.env['KEYFLEET_CLUSTER_KEEP'] === '1') return;
    await down();
    expect(ourProcesses()).toEqual([]);
    expect(listPodNetns()).toEqual([]);
    expect(readdirSync('/sys/class/net').filter((l) => l.startsWith('kfbr') || l.startsWith('kfv'))).toEqual(
      [],
    );
    const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']).split('\n');
    expect(routes.filter((r) => /10\.(244|96)\./.test(r))).toEqual([]);
    const tables = run('nft', ['list', 'tables']);
    expect(tables).not.toMatch(/keyfleet|kube-proxy/);
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
    expect(mounts.filter((m) => m.includes(stateDir))).toEqual([]);
    expect(existsSync(paths.agentSocket)).toBe(false);
    expect(
      existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((d) => d.startsWith('kfp-')) : [],
    ).toEqual([]);
  });
});
