// AKD verification benchmark: keyfleet's sdk against the akd crate on the same workload — the
// committed interop fixtures (test/interop/fixtures) plus a synthetic large audit transition.
//
//   npm exec -- node test/bench/akd.ts [--iterations N]
//
// The akd column comes from the Rust tool (`keyfleet-akd-interop bench`), run if it has been
// built (cd test/interop && nice -n 10 cargo build --release); otherwise only our figures are
// printed. Figures are means per operation on one core (best of 3 rounds); the load average is
// printed with them.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { blake3 } from '@noble/hashes/blake3.js';
import {
  auditVerify,
  computeRootHash,
  decodeAppendOnlyProof,
  decodeHistoryProof,
  decodeLookupProof,
  hexToBytes,
  keyHistoryVerify,
  leafElement,
  leafLabel,
  lookupVerify,
  verifyConsecutiveAppendOnly,
} from '../../sdk/src/akd/index.ts';
import { vrfProve, vrfPublicKey, vrfSecretKey, vrfVerify } from '../../sdk/src/vrf/ecvrf.ts';
import {
  auditFixtures,
  b64,
  directoryKey,
  historyFixtures,
  historyParams,
  lookupFixtures,
  primitivesFixtures,
} from '../interop/load.ts';
import { report } from './report.ts';

const { values } = parseArgs({
  options: { iterations: { type: 'string', default: '20' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  process.stdout.write('usage: npm exec -- node test/bench/akd.ts [--iterations N]\n');
  process.exit(0);
}
const iterations = Math.max(1, Number(values.iterations));

/** Mean ms per call of f: the best of 3 rounds of n calls (the machine is shared; the best round is the least disturbed). */
function time(f: () => unknown, n = iterations): number {
  f(); // warm up
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    best = Math.min(best, (performance.now() - t) / n);
  }
  return best;
}

// akd's figures, by name, if the Rust tool is built.
const tool = fileURLToPath(new URL('../interop/target/release/keyfleet-akd-interop', import.meta.url));
const akd = new Map<string, number>();
if (existsSync(tool)) {
  const out = execFileSync(tool, ['bench', fileURLToPath(new URL('../interop/fixtures/', import.meta.url))], {
    encoding: 'utf8',
  });
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const { name, ms } = JSON.parse(line) as { name: string; ms: number };
    akd.set(name, ms);
  }
} else {
  console.log(`(akd column empty: ${tool} not built)`);
}

const rows: [string, number, number | undefined, number | undefined][] = [];
function figure(name: string, ms: number, bytes?: number, goal?: string): void {
  const theirs = akd.get(name);
  rows.push([name, ms, theirs, bytes]);
  report({ bench: 'akd', name: `${name} (ms)`, value: ms, unit: 'ms', ...(goal ? { goal } : {}) });
  if (theirs !== undefined) {
    report({ bench: 'akd', name: `${name}: keyfleet/akd`, value: ms / theirs, unit: 'x' });
  }
}

// VRF
const prim = primitivesFixtures();
const v0 = prim.vrf[0];
if (!v0) throw new Error('no VRF fixture');
const sk = vrfSecretKey(hexToBytes(v0.sk));
const alpha = hexToBytes(v0.alpha);
const pi = vrfProve(sk, alpha);
const pk = vrfPublicKey(hexToBytes(v0.pk));
figure(
  'vrf prove',
  time(() => vrfProve(sk, alpha), iterations * 5),
);
figure(
  'vrf verify',
  time(() => vrfVerify(pk, pi, alpha), iterations * 5),
);

// Lookup
const L = lookupFixtures();
for (const f of L.lookups) {
  const bytes = b64(f.proof);
  const key = vrfPublicKey(directoryKey(L.directories, f.directory));
  const root = hexToBytes(f.root_hash);
  const user = hexToBytes(f.username);
  const name = `lookup verify ${f.directory} ${f.username_utf8} v${f.expected.version}`;
  figure(
    name,
    time(() => lookupVerify(key, root, BigInt(f.epoch), user, decodeLookupProof(bytes))),
    bytes.length,
    '< 2 ms',
  );
}

// History
const H = historyFixtures();
for (const f of H.histories) {
  if (f.expect !== 'valid' || f.allow_missing_values) continue;
  const bytes = b64(f.proof);
  const key = vrfPublicKey(directoryKey(H.directories, f.directory));
  const root = hexToBytes(f.root_hash);
  const user = hexToBytes(f.username);
  const params = historyParams(f);
  const name = `history verify ${f.directory} ${f.username_utf8} ${f.note}`;
  const n = Math.max(2, Math.floor(iterations / 4));
  figure(
    name,
    time(() => keyHistoryVerify(key, root, BigInt(f.epoch), user, decodeHistoryProof(bytes), params), n),
    bytes.length,
  );
}

// Audit
const A = auditFixtures();
for (const f of A.audits) {
  const bytes = b64(f.proof);
  const hashes = f.root_hashes.map(hexToBytes);
  const name = `audit verify ${f.directory} ${f.start_epoch}..${f.end_epoch}`;
  figure(
    name,
    time(() => auditVerify(hashes, decodeAppendOnlyProof(bytes))),
    bytes.length,
  );
}

// Synthetic: the first epoch of a directory that inserts 100k leaves (50k users, fresh and stale
// entries alike are leaves), verified from the empty root. Built by our own code, so this times
// the rebuild, not agreement with akd.
{
  const n = 100_000;
  const seed = blake3(new TextEncoder().encode('bench-audit'));
  const inserted = Array.from({ length: n }, (_, i) => {
    const v = blake3(Uint8Array.from([...seed, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff]));
    return { label: leafLabel(v), value: blake3(v) };
  });
  const end = computeRootHash(inserted.map((e) => leafElement(e.label, e.value, 1n)));
  const start = computeRootHash([]);
  const ms = time(() => verifyConsecutiveAppendOnly({ unchangedNodes: [], inserted }, start, end, 1n), 1);
  figure('audit verify synthetic 100k inserted leaves, epoch 0..1', ms);
}

const [l1] = loadavg();
console.log(`\nakd verification, mean ms per operation (load average ${l1?.toFixed(2)})`);
const w = Math.max(...rows.map((r) => r[0].length));
console.log(
  `${'operation'.padEnd(w)}  ${'keyfleet'.padStart(9)}  ${'akd 0.13'.padStart(9)}  ${'ratio'.padStart(7)}  ${'bytes'.padStart(7)}`,
);
for (const [name, ours, theirs, bytes] of rows) {
  const ratio = theirs === undefined ? '' : `${(ours / theirs).toFixed(1)}x`;
  console.log(
    `${name.padEnd(w)}  ${ours.toFixed(3).padStart(9)}  ${(theirs?.toFixed(3) ?? '').padStart(9)}  ${ratio.padStart(7)}  ${String(bytes ?? '').padStart(7)}`,
  );
}
