// The directory at one million entries (directory-node, SQLite storage, VRF in worker threads):
// inserts new users in epochs of --batch until --entries, printing the insert rate as it grows,
// then at that size: the rate of one epoch of key rotations (updates of existing users), and
// lookup proof generation and verification (sdk verifier) times and sizes, and peak memory.
// Each figure comes with its CPU time per operation (whole process, label workers included;
// and the main thread alone) and the load average: the machine is shared.
//
// Inserts run with the next batch already queued (a backlog), so the publisher derives its
// labels during the current epoch's tree work.
//
//   npm exec -- node test/bench/directory-1m.ts [--entries 1000000] [--batch 10000]
//                                               [--budget-s 2400] [--lookups 200]
//
// Bounded: population stops at --budget-s seconds (default 40 min) and the figures are then
// reported at the size reached, which every figure names. Figures are wall-clock here.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { lookupProof } from '../../directory-node/src/proofs/lookup.ts';
import {
  BenchDirectory,
  type EpochTimes,
  cpuPerUpdate as perUpdate,
  positiveOption,
  benchUsername as username,
} from '../../directory-node/src/testing/bench-directory.ts';
import { loadAverage, peakRssMiB } from '../../directory-node/src/testing/cpu-clock.ts';
import { whatsappV1Hasher } from '../../directory-node/src/tree/hasher.ts';
import { decodeLookupProof, encodeLookupProof } from '../../sdk/src/akd/codec.ts';
import { lookupVerify } from '../../sdk/src/akd/verify.ts';
import { vrfBackend } from '../../sdk/src/vrf/backend.ts';
import { percentile, report } from './report.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '10000' },
    'budget-s': { type: 'string', default: '2400' },
    lookups: { type: 'string', default: '200' },
    'label-threads': { type: 'string', default: String(availableParallelism()) },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm exec -- node test/bench/directory-1m.ts [--entries N] [--batch N] [--budget-s S] [--lookups N] [--label-threads N]\n',
  );
  process.exit(0);
}
const positive = positiveOption;
const target = positive('entries', values.entries);
const batch = positive('batch', values.batch);
const budgetMs = positive('budget-s', values['budget-s']) * 1000;
const lookups = positive('lookups', values.lookups);
const threads = positive('label-threads', values['label-threads']);
const BENCH = 'directory-1m';
const started = performance.now();
const elapsedS = () => (performance.now() - started) / 1000;

const directory = new BenchDirectory({ threads, maxBatchSize: batch, name: '1m' });
await directory.init();
const { storage, vrf } = directory;
const publishEpoch = (ids: readonly number[], value: (i: number) => string) => directory.publish(ids, value);

console.log(
  `${threads} VRF worker thread(s) on the ${vrfBackend} backend, batches of ${batch}, ${loadAverage()}`,
);
let users = 0;
let publishSeconds = 0;
let publishCpuMs = 0;
let lastRate = 0;
let last: EpochTimes | undefined;
// The next batch is queued before each epoch, as under a backlog: the publisher derives its
// labels while this epoch's tree work runs.
let queued = 0;
const enqueueBatch = async () => {
  const n = Math.min(batch, target - queued);
  if (n === 0) return;
  await directory.enqueue(
    Array.from({ length: n }, (_, k) => queued + k),
    (i) => `key-1-${i}`,
  );
  queued += n;
};
await enqueueBatch();
while (users < queued) {
  const n = Math.min(batch, queued - users);
  if (performance.now() - started < budgetMs) await enqueueBatch();
  last = await directory.publishQueued(n);
  users += n;
  publishSeconds += last.wallMs / 1000;
  publishCpuMs += last.cpuMs;
  lastRate = n / (last.wallMs / 1000);
  if (users % (10 * batch) === 0 || users === target)
    console.log(
      `  ${users} entries after ${elapsedS().toFixed(0)} s: this epoch ${lastRate.toFixed(0)} inserts/s, ` +
        `${perUpdate(last)}; all so far ${(users / publishSeconds).toFixed(0)} inserts/s, ` +
        `${(publishCpuMs / users).toFixed(3)} ms CPU/insert; ${loadAverage()}`,
    );
}
const populateS = elapsedS();
if (users < target)
  console.log(`time budget reached: stopped at ${users} of ${target} entries (figures are at ${users})`);
console.log(
  `populated ${users} entries in ${populateS.toFixed(0)} s (publishing ${publishSeconds.toFixed(0)} s, ` +
    `${(publishCpuMs / users).toFixed(3)} ms CPU/insert)`,
);
report({
  bench: BENCH,
  name: `insert CPU time while growing to ${users} (all threads)`,
  value: publishCpuMs / users,
  unit: 'ms/update',
});
if (last !== undefined)
  report({
    bench: BENCH,
    name: `insert CPU time, last epoch at ${users} (all threads)`,
    value: last.cpuMs / Math.min(batch, users),
    unit: 'ms/update',
  });
report({
  bench: BENCH,
  name: `insert rate while growing to ${users}`,
  value: Math.round(users / publishSeconds),
  unit: 'updates/s',
});
report({
  bench: BENCH,
  name: `insert rate, last epoch at ${users}`,
  value: Math.round(lastRate),
  unit: 'updates/s',
  goal: '>= 5000/s at 1M',
});

// One epoch of key rotations spread over the whole directory.
const stride = Math.max(1, Math.floor(users / batch));
const rotated = Array.from({ length: Math.min(batch, users) }, (_, k) => (k * stride) % users);
const rotation = await publishEpoch(rotated, (i) => `key-2-${i}`);
const rotateRate = rotated.length / (rotation.wallMs / 1000);
console.log(
  `rotate ${rotated.length} existing keys at ${users} entries: ${(rotation.wallMs / 1000).toFixed(2)} s, ` +
    `${rotateRate.toFixed(0)} updates/s, ${perUpdate(rotation)}; ${loadAverage()}`,
);
report({
  bench: BENCH,
  name: `update CPU time at ${users} (all threads)`,
  value: rotation.cpuMs / rotated.length,
  unit: 'ms/update',
});
report({
  bench: BENCH,
  name: `update ${rotated.length} existing at ${users}`,
  value: Math.round(rotateRate),
  unit: 'updates/s',
  goal: '>= 5000/s at 1M',
});

// A few untimed lookups first, so the figures are not the JIT's warm-up.
for (let k = 0; k < 5; k++) await storage.read((s) => lookupProof(s, whatsappV1Hasher, vrf, username(k)));
const generate: number[] = [];
const verify: number[] = [];
let verifyCpuMs = 0;
let generateCpuMs = 0;
let bytes = 0;
for (let k = 0; k < lookups; k++) {
  const i = (k * 7919) % users;
  const name = username(i);
  const t0 = performance.now();
  const c0 = process.threadCpuUsage();
  const { epoch, proof } = await storage.read((s) => lookupProof(s, whatsappV1Hasher, vrf, name));
  const encoded = encodeLookupProof(proof);
  const c1 = process.threadCpuUsage();
  const t1 = performance.now();
  const result = lookupVerify(
    vrf.publicKey,
    epoch.rootHash,
    BigInt(epoch.epoch),
    name,
    decodeLookupProof(encoded),
  );
  const t2 = performance.now();
  const c2 = process.threadCpuUsage(c1);
  verifyCpuMs += (c2.user + c2.system) / 1000;
  const g = process.threadCpuUsage(c0);
  generateCpuMs += (g.user + g.system) / 1000 - (c2.user + c2.system) / 1000;
  const want = rotated.includes(i) ? `key-2-${i}` : `key-1-${i}`;
  if (new TextDecoder().decode(result.value) !== want)
    throw new Error(`lookup of user ${i} verified the wrong value`);
  generate.push(t1 - t0);
  verify.push(t2 - t1);
  bytes += encoded.length;
}
generate.sort((a, b) => a - b);
verify.sort((a, b) => a - b);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `lookup proofs at ${users} entries (${lookups}): generation mean ${mean(generate).toFixed(2)} ms ` +
    `(p99 ${percentile(generate, 99).toFixed(2)}), verification mean ${mean(verify).toFixed(2)} ms ` +
    `(p99 ${percentile(verify, 99).toFixed(2)}), ${(bytes / lookups).toFixed(0)} bytes; CPU time: generation ` +
    `${(generateCpuMs / lookups).toFixed(2)} ms, verification ${(verifyCpuMs / lookups).toFixed(2)} ms; ${loadAverage()}`,
);
report({
  bench: BENCH,
  name: `lookup proof verification CPU time at ${users}`,
  value: verifyCpuMs / lookups,
  unit: 'ms',
  goal: '< 2 ms',
});
report({
  bench: BENCH,
  name: `lookup proof generation CPU time at ${users}`,
  value: generateCpuMs / lookups,
  unit: 'ms',
});
report({ bench: BENCH, name: `lookup proof generation at ${users}`, value: mean(generate), unit: 'ms' });
report({
  bench: BENCH,
  name: `lookup proof verification at ${users}`,
  value: mean(verify),
  unit: 'ms',
  goal: '< 2 ms',
});
report({
  bench: BENCH,
  name: `lookup proof size at ${users}`,
  value: Math.round(bytes / lookups),
  unit: 'bytes',
});
const peakMiB = peakRssMiB();
console.log(`peak memory ${peakMiB.toFixed(0)} MiB; whole run ${elapsedS().toFixed(0)} s`);
report({ bench: BENCH, name: `peak RSS at ${users}`, value: Math.round(peakMiB), unit: 'MiB' });
report({ bench: BENCH, name: 'run time', value: Math.round(elapsedS()), unit: 's' });

await directory.close();
