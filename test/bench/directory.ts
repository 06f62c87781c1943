// Directory publisher and reader benchmark (directory-node, SQLite storage, VRF in worker
// threads): publish throughput of new users for each batch size into directories of each
// size, then lookup and history proof generation time and size at the largest directory.
//
//   npm exec -- node test/bench/directory.ts [--sizes 0,100000] [--batches 1000,10000]
//                                            [--label-threads N] [--lookups N]
//
// Populating a directory costs one VRF label per user, so the 100k directory takes a minute
// or so to build before its figures appear. Figures are wall-clock on this machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { signingKeys, vrfKeys } from '../../directory-node/src/keys.ts';
import { historyProof } from '../../directory-node/src/proofs/history.ts';
import { lookupProof } from '../../directory-node/src/proofs/lookup.ts';
import { FilesystemAuditStorage } from '../../directory-node/src/publisher/audit-storage.ts';
import { type LabelDeriver, WorkerLabelDeriver } from '../../directory-node/src/publisher/labels.ts';
import { Publisher } from '../../directory-node/src/publisher/publisher.ts';
import { FileWriterLock } from '../../directory-node/src/publisher/writer-lock.ts';
import { SqliteStorage } from '../../directory-node/src/storage/sqlite.ts';
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

const dir = mkdtempSync(join(tmpdir(), 'kf-bench-dir-'));
const vrf = vrfKeys(ed25519.utils.randomSecretKey());
const storage = new SqliteStorage(join(dir, 'directory.db'));
const workers = new WorkerLabelDeriver(vrf.secret, vrf.expanded, threads);
/** Time spent deriving VRF labels, to show what an epoch's time goes to. */
let labelSeconds = 0;
const labels: LabelDeriver = {
  derive: async (requests) => {
    const t0 = performance.now();
    const out = await workers.derive(requests);
    labelSeconds += (performance.now() - t0) / 1000;
    return out;
  },
  close: () => workers.close(),
};
const ctx = {
  namespace: 'bench',
  hasher: whatsappV1Hasher,
  vrf,
  signing: signingKeys(ed25519.utils.randomSecretKey()),
  labels,
  now: Date.now,
};
const publisher = new Publisher(
  storage,
  ctx,
  new FilesystemAuditStorage(join(dir, 'audit')),
  new FileWriterLock(join(dir, 'lock')),
  {
    maxBatchSize: 1_000_000,
    epochIntervalMs: 0,
  },
);
await publisher.init();
let users = 0;

/** Queues `n` new users and publishes them as one epoch; returns seconds spent publishing. */
async function publishNewUsers(n: number): Promise<{ seconds: number; labels: number }> {
  const changes = Array.from({ length: n }, (_, i) => {
    const id = users + i;
    return {
      requestId: `u${id}`,
      username: enc.encode(`user-${id}@example.com`),
      value: enc.encode(`public-key-${id}`),
    };
  });
  for (let i = 0; i < changes.length; i += 10_000)
    await storage.enqueueMany(changes.slice(i, i + 10_000), 10_000_000);
  users += n;
  labelSeconds = 0;
  const t0 = performance.now();
  const record = await publisher.publishOnce();
  if (record === undefined || record.updates !== n) throw new Error('epoch did not publish the batch');
  return { seconds: (performance.now() - t0) / 1000, labels: labelSeconds };
}

/** Mean CPU ms per call (this thread), over 50 calls. */
const probe = (derive: (i: number) => unknown): number => {
  const c0 = process.cpuUsage();
  for (let i = 0; i < 50; i++) derive(i);
  const c = process.cpuUsage(c0);
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
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, ${threads} VRF worker thread(s)`,
);
for (const size of sizes) {
  while (users < size) {
    const n = Math.min(10_000, size - users);
    await publishNewUsers(n);
    process.stderr.write(`  populating: ${users}/${size} users\r`);
  }
  if (size > 0) process.stderr.write('\n');
  for (const batch of batches) {
    const before = users;
    const { seconds, labels: vrfSeconds } = await publishNewUsers(batch);
    const rate = batch / seconds;
    console.log(
      `publish ${batch} new users into ${before} entries: ${seconds.toFixed(2)} s (VRF labels ${vrfSeconds.toFixed(2)} s), ${rate.toFixed(0)} updates/s`,
    );
    report({
      bench: 'directory',
      name: `publish ${batch} into ${size}`,
      value: Math.round(rate),
      unit: 'updates/s',
      goal: '>= 5000/s at 1M',
    });
  }
}

const lookupTimes: number[] = [];
let lookupBytes = 0;
for (let i = 0; i < lookups; i++) {
  const username = enc.encode(`user-${Math.floor((i * 7919) % users)}@example.com`);
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
const target = enc.encode('user-0@example.com');
for (let v = 2; v <= 5; v++) {
  await storage.enqueue({ requestId: `h${v}`, username: target, value: enc.encode(`rotated-${v}`) }, 1e9);
  await publisher.publishOnce();
}
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

await publisher.stop();
await labels.close();
storage.close();
rmSync(dir, { recursive: true, force: true });
