// Host and pod networking. Each node has a Linux bridge (kfbrN, 10.244.N.1/24); each pod a network
// namespace joined to its node's bridge by a veth pair, with a /32 address and routes only to the
// pod range and the Service range through its node's gateway: no default route, so nothing a pod
// sends can leave the machine. Pods' traffic always crosses the host's IP layer (even between pods
// of one node), which is where kube-proxy's Service rules and the harness's fault rules apply.
// On the host, `unreachable` routes cover the whole pod and Service ranges beneath the bridges'
// connected routes, and an nftables table drops any forwarded pod/Service traffic not between our
// bridges.
import { existsSync } from 'node:fs';
import { net, nodes } from './config.ts';
import { run, tryRun } from './sh.ts';

const NFT_TABLE = 'keyfleet';

function sysctl(key: string, value: string): void {
  const file = `/proc/sys/${key.replaceAll('.', '/')}`;
  if (existsSync(file)) run('sh', ['-c', `echo ${value} > ${file}`]);
}

function cidrRange(cidr: string): [number, number] {
  const [addr, bits = '32'] = cidr.split('/');
  const n = addr!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(n / size) * size;
  return [start, start + size - 1];
}

export function overlaps(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

/** Routes of the machine (any table) overlapping our ranges that the harness did not make. */
export function foreignRoutes(): string[] {
  const out: string[] = [];
  for (const line of run('ip', ['-4', 'route', 'show', 'table', 'all']).split('\n')) {
    const words = line.trim().split(/\s+/);
    const dest = /^(unreachable|local|broadcast|blackhole|prohibit)$/.test(words[0] ?? '')
      ? words[1]
      : words[0];
    if (!dest || dest === 'default' || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) continue;
    if (/\bkfbr\d\b/.test(line)) continue; // our bridges' own routes
    if (words[0] === 'unreachable' && (dest === net.podCidr || dest === net.serviceCidr)) continue; // ours
    if (overlaps(dest, net.podCidr) || overlaps(dest, net.serviceCidr)) out.push(line.trim());
  }
  return out;
}

/** The pod and Service ranges must be unused by the machine (checked at every `up`). */
export function checkRangesFree(): void {
  const clash = foreignRoutes();
  if (clash.length) {
    throw new Error(
      `the machine already routes ${clash.join('; ')}: the test cluster's ranges ${net.podCidr} and ${net.serviceCidr} must be unused`,
    );
  }
}

export function hostNetworkUp(): void {
  checkRangesFree();
  if (!tryRun('ip', ['link', 'show', net.controlPlaneIface])) {
    run('ip', ['link', 'add', net.controlPlaneIface, 'type', 'bridge']);
  }
  tryRun('ip', ['addr', 'add', `${net.controlPlaneIp}/32`, 'dev', net.controlPlaneIface]);
  run('ip', ['link', 'set', net.controlPlaneIface, 'up']);
  for (const n of nodes) {
    if (!tryRun('ip', ['link', 'show', n.bridge])) run('ip', ['link', 'add', n.bridge, 'type', 'bridge']);
    tryRun('ip', ['addr', 'add', `${n.gateway}/24`, 'dev', n.bridge]);
    run('ip', ['link', 'set', n.bridge, 'up']);
    // Forwarding only for packets that arrive on our bridges (the global switch stays as it was).
    sysctl(`net.ipv4.conf.${n.bridge}.forwarding`, '1');
    sysctl(`net.ipv4.conf.${n.bridge}.send_redirects`, '0');
  }
  for (const range of [net.podCidr, net.serviceCidr]) {
    if (!routeExists(`unreachable ${range}`)) run('ip', ['route', 'add', 'unreachable', range]);
  }
  writeContainmentTable([]);
}

function routeExists(prefix: string): boolean {
  return run('ip', ['-4', 'route', 'show'])
    .split('\n')
    .some((l) => l.startsWith(prefix));
}

export function hostNetworkDown(): void {
  tryRun('nft', ['delete', 'table', 'inet', NFT_TABLE]);
  for (const range of [net.podCidr, net.serviceCidr]) tryRun('ip', ['route', 'del', 'unreachable', range]);
  for (const n of nodes) tryRun('ip', ['link', 'del', n.bridge]);
  tryRun('ip', ['link', 'del', net.controlPlaneIface]);
}

/** Fault rules the agent asks for: extra nft rules inside the forward/input chains. */
export interface FaultRules {
  partitionedBridges: string[];
  isolatedIps: string[];
}

/**
 * (Re)writes the harness's nftables table atomically: containment (forwarded traffic from or to the
 * pod/Service ranges must stay between our bridges) plus the current faults.
 */
export function writeContainmentTable(
  extra: string[],
  faults: FaultRules = { partitionedBridges: [], isolatedIps: [] },
): void {
  const ours = `{ ${nodes.map((n) => `"${n.bridge}"`).join(', ')} }`;
  const fwd: string[] = [
    `ip saddr ${net.podCidr} oifname != ${ours} drop`,
    `ip daddr { ${net.podCidr}, ${net.serviceCidr} } iifname != ${ours} drop`,
  ];
  const input: string[] = [];
  for (const br of faults.partitionedBridges) {
    fwd.push(`iifname "${br}" oifname != "${br}" drop`, `oifname "${br}" iifname != "${br}" drop`);
  }
  for (const ip of faults.isolatedIps) {
    fwd.push(`ip saddr ${ip} drop`, `ip daddr ${ip} drop`);
    input.push(`ip saddr ${ip} ct state new drop`);
  }
  fwd.push(...extra);
  const script = [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    ...fwd.map((r) => `    ${r}`),
    '  }',
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
    ...input.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
  run('nft', ['-f', '-'], script);
}

export interface PodNet {
  netns: string;
  hostVeth: string;
  ip: string;
}

export function podNetNames(uid: string): { netns: string; hostVeth: string } {
  const id = uid.replaceAll('-', '').slice(0, 10);
  return { netns: `kfp-${id}`, hostVeth: `kfv${id}` };
}

/** Creates the pod's namespace, veth pair on the node's bridge, address and routes. */
export function podNetUp(uid: string, bridge: string, gateway: string, ip: string): PodNet {
  const { netns, hostVeth } = podNetNames(uid);
  podNetDown(uid);
  run('ip', ['netns', 'add', netns]);
  const tmpPeer = `${hostVeth}p`;
  run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', tmpPeer]);
  run('ip', ['link', 'set', tmpPeer, 'netns', netns]);
  run('ip', ['link', 'set', hostVeth, 'master', bridge, 'up']);
  const inNs = (...args: string[]) => run('ip', ['-n', netns, ...args]);
  inNs('link', 'set', tmpPeer, 'name', 'eth0');
  inNs('addr', 'add', `${ip}/32`, 'dev', 'eth0');
  inNs('link', 'set', 'lo', 'up');
  inNs('link', 'set', 'eth0', 'up');
  inNs('route', 'add', gateway, 'dev', 'eth0', 'scope', 'link');
  inNs('route', 'add', net.podCidr, 'via', gateway, 'dev', 'eth0', 'onlink');
  inNs('route', 'add', net.serviceCidr, 'via', gateway, 'dev', 'eth0', 'onlink');
  return { netns, hostVeth, ip };
}

export function podNetDown(uid: string): void {
  const { netns, hostVeth } = podNetNames(uid);
  tryRun('ip', ['link', 'del', hostVeth]);
  tryRun('ip', ['netns', 'del', netns]);
}

/** Network namespaces the harness made (kfp-*) that still exist. */
export function listPodNetns(): string[] {
  if (!existsSync('/run/netns')) return [];
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('kfp-'));
}

/** Pids of processes inside a network namespace. */
export function netnsPids(netns: string): number[] {
  try {
    return run('ip', ['netns', 'pids', netns]).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
