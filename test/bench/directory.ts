// Directory publisher and reader benchmark (directory-node, SQLite storage, VRF in worker
// threads): publish throughput of new users for each batch size into directories of each
// size, then lookup and history proof generation time and size at the largest directory.
//
//   npm exec -- node test/bench/directory.ts [--sizes 0,100000] [--batches 1000,10000]
//                                            [--label-threads N] [--lookups N]
//
// Populating a directory costs one VRF label per user, so the 100k directory takes a minute
// or so to build before its figures appear. Figures are wall-clock on this machine.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { historyProof } from '../../directory-node/src/proofs/history.ts';
import { lookupProof } from '../../directory-node/src/proofs/lookup.ts';
import {
  BenchDirectory,
  benchUsername,
  cpuPerUpdate,
  type EpochTimes,
} from '../../directory-node/src/testing/bench-directory.ts';
import { loadAverage, peakRssMiB } from '../../directory-node/src/testing/cpu-clock.ts';
import { whatsappV1Hasher } from '../../directory-node/src/tree/hasher.ts';
import { encodeHistoryProof, encodeLookupProof } from '../../sdk/src/akd/codec.ts';
import { deriveNodeLabel } from '../../sdk/src/akd/vrf-labels.ts';
import { vrfInput } from '../../sdk/src/akd/whatsapp-v1.ts';
import { vrfEvaluate } from '../../sdk/src/vrf/ecvrf.ts';
import { report } from './report.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '0,100000' },
    batches: { type: 'string', default: '1000,10000' },
    'label-threads': { type: 'string', default: String(availableParallelism()) },
    lookups: { type: 'string', default: '50' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm exec -- node test/bench/directory.ts [--sizes 0,100000] [--batches 1000,10000] [--label-threads N] [--lookups N]\n',
  );
  process.exit(0);
}
const ints = (s: string) =>
  s
    .split(',')
    .map((x) => Number.parseInt(x, 10))
    .filter((x) => Number.isInteger(x) && x >= 0);
const sizes = ints(values.sizes).sort((a, b) => a - b);
const batches = ints(values.batches);
const threads = Math.max(1, Number(values['label-threads']));
const lookups = Math.max(1, Number(values.lookups));
const enc = new TextEncoder();
const kib = (n: number) => n / 1024;

const directory = new BenchDirectory({ threads, maxBatchSize: 1_000_000, name: 'directory' });
await directory.init();
const { storage, vrf } = directory;
let users = 0;

/** Publishes `n` new users as one epoch. */
async function publishNewUsers(n: number): Promise<EpochTimes> {
  const times = await directory.publish(
    Array.from({ length: n }, (_, k) => users + k),
    (i) => `public-key-${i}`,
  );
  users += n;
  return times;
}

/** Mean CPU ms per call (this thread), over 50 calls after 20 to warm up. */
const probe = (derive: (i: number) => unknown): number => {
  for (let i = 0; i < 20; i++) derive(-1 - i);
  const c0 = process.threadCpuUsage();
  for (let i = 0; i < 50; i++) derive(i);
  const c = process.threadCpuUsage(c0);
  return (c.user + c.system) / 1000 / 50;
};
const nobleMs = probe((i) => vrfEvaluate(vrf.expanded, vrfInput(enc.encode(`probe-${i}`), 'fresh', 1n)));
const sodiumMs = probe((i) => deriveNodeLabel(vrf.expanded, enc.encode(`probe-${i}`), 'fresh', 1n));
console.log(
  `one VRF label on this machine now (CPU time): ${nobleMs.toFixed(2)} ms with the @noble reference, ${sodiumMs.toFixed(2)} ms with the sdk's libsodium backend (used by the publisher)`,
);
report({
  bench: 'directory',
  name: 'VRF label, @noble reference (CPU, one thread)',
  value: nobleMs,
  unit: 'ms',
});
report({
  bench: 'directory',
  name: 'VRF label, libsodium backend (CPU, one thread)',
  value: sodiumMs,
  unit: 'ms',
});
console.log(`${loadAverage()}, ${threads} VRF worker thread(s)`);
for (const size of sizes) {
  while (users < size) {
    const n = Math.min(10_000, size - users);
    await publishNewUsers(n);
    process.stderr.write(`  populating: ${users}/${size} users\r`);
  }
  if (size > 0) process.stderr.write('\n');
  for (const batch of batches) {
    const before = users;
    const t = await publishNewUsers(batch);
    const rate = batch / (t.wallMs / 1000);
    console.log(
      `publish ${batch} new users into ${before} entries: ${(t.wallMs / 1000).toFixed(2)} s (waiting for VRF labels ${(t.labelWallMs / 1000).toFixed(2)} s), ${rate.toFixed(0)} updates/s, ${cpuPerUpdate(t)}; ${loadAverage()}`,
    );
    report({
      bench: 'directory',
      name: `publish ${batch} into ${size}`,
      value: Math.round(rate),
      unit: 'updates/s',
      goal: '>= 5000/s at 1M',
    });
    report({
      bench: 'directory',
      name: `publish ${batch} into ${size}: CPU time (all threads)`,
      value: t.cpuMs / batch,
      unit: 'ms/update',
    });
  }
}

const lookupTimes: number[] = [];
let lookupBytes = 0;
for (let i = 0; i < lookups; i++) {
  const username = benchUsername(Math.floor((i * 7919) % users));
  const t0 = performance.now();
  const { proof } = await storage.read((s) => lookupProof(s, whatsappV1Hasher, vrf, username));
  const bytes = encodeLookupProof(proof);
  lookupTimes.push(performance.now() - t0);
  lookupBytes += bytes.length;
}
const meanLookup = lookupTimes.reduce((a, b) => a + b, 0) / lookupTimes.length;
console.log(
  `lookup proof at ${users} entries: ${meanLookup.toFixed(2)} ms, ${kib(lookupBytes / lookups).toFixed(2)} KiB`,
);
report({ bench: 'directory', name: `lookup proof generation at ${users}`, value: meanLookup, unit: 'ms' });
report({
  bench: 'directory',
  name: `lookup proof size at ${users}`,
  value: Math.round(lookupBytes / lookups),
  unit: 'bytes',
});

// A user with a few versions for the history figure.
const target = benchUsername(0);
for (let v = 2; v <= 5; v++) await directory.publish([0], () => `rotated-${v}`);
const t0 = performance.now();
const { proof: hist } = await storage.read((s) =>
  historyProof(s, whatsappV1Hasher, vrf, target, { kind: 'complete' }),
);
const histMs = performance.now() - t0;
const histBytes = encodeHistoryProof(hist).length;
console.log(
  `history proof (5 versions) at ${users} entries: ${histMs.toFixed(2)} ms, ${kib(histBytes).toFixed(2)} KiB`,
);
report({ bench: 'directory', name: 'history proof generation (5 versions)', value: histMs, unit: 'ms' });
report({ bench: 'directory', name: 'history proof size (5 versions)', value: histBytes, unit: 'bytes' });

const peak = peakRssMiB();
console.log(`peak memory ${peak.toFixed(0)} MiB; ${loadAverage()}`);
report({ bench: 'directory', name: 'peak RSS', value: Math.round(peak), unit: 'MiB' });
await directory.close();
