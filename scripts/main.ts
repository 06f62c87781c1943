// npm run main — keyfleet's end-to-end path on this machine, saying what each step proved.
// Today: the API examples validated against the CRDs; a seven-zone vault fleet of real vault-node
// processes (each on its own loopback address, HSMs certified by a manufacturer CA the way the
// operator does it) escrowing and recovering a backup key over OPAQUE, locking a record at its
// guess limit, and surviving the loss of its leader. The Kubernetes path (local cluster, chart,
// operator) joins this command when the operator's controllers land.
import { readFileSync } from 'node:fs';
import {
  type KeyfleetKind,
  loadCrd,
  resourceValidator,
  storageSchema,
  type VaultFleet,
  validExamples,
} from '@keyfleet/sdk/api/index';
import { BackupClient, BackupError, httpTransport } from '@keyfleet/sdk/backup/client';
import { parse } from 'yaml';
import { LocalFleet } from '../test/fleet/local-fleet.ts';

const keep = process.argv.includes('--keep');
if (process.argv.includes('--help')) {
  console.log(`usage: npm run main [-- --keep]

Runs keyfleet's end-to-end path on this machine and says what each step proved:
  1. the example VaultFleet and KeyDirectory validate against the CRD schemas and CEL rules
  2. a seven-zone vault fleet of real processes starts (HSMs certified, fleet secret distributed sealed)
  3. a backup key is escrowed behind a password (OPAQUE) and recovered through another member
  4. wrong passwords lock a record forever at the guess limit, even for the right password
  5. the Raft leader is killed; a recovery still succeeds through the new leader
--keep  leave the fleet running until Ctrl-C (its metrics and logs are printed)`);
  process.exit(0);
}

const step = (text: string) => console.log(`\n== ${text}`);
const ok = (text: string) => console.log(`   ok  ${text}`);

step('1. API: the examples in crds/examples against the CRD schemas and CEL rules');
let invalid = 0;
for (const example of validExamples()) {
  const kind = example.object.kind as KeyfleetKind;
  const { errors } = resourceValidator(storageSchema(loadCrd(kind))).validate(example.object);
  if (errors.length === 0) ok(`${kind} ${example.file}`);
  for (const error of errors) console.log(`   FAIL ${example.file}: ${error.message}`);
  invalid += errors.length;
}
if (invalid > 0) process.exit(1);

const example = parse(
  readFileSync(new URL('../crds/examples/vaultfleet.yaml', import.meta.url), 'utf8'),
) as VaultFleet;
const zones = example.spec.zones;
const guessLimit = example.spec.guessLimit;

step(
  `2. a VaultFleet of ${zones.length} vault-node processes (zones ${zones.join(', ')}, guess limit ${guessLimit})`,
);
const started = performance.now();
const fleet = await LocalFleet.start({
  size: zones.length,
  fleetId: `${example.metadata.namespace}/${example.metadata.name}`,
  guessLimit,
});
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await fleet.destroy();
  process.exit(code);
};
process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));

try {
  ok(`all ${fleet.members.length} members ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  ok('each HSM identity certified by the manufacturer CA through signed admin calls');
  ok('the fleet OPAQUE setup generated in one HSM and delivered sealed to each other member');
  const leader = await fleet.leader();
  ok(`Raft leader: ${leader.id}`);

  const client = (i: number) =>
    new BackupClient({
      fleetId: fleet.fleetId,
      trustedMembers: fleet.trustedMembers(),
      transport: httpTransport((fleet.members[i % fleet.members.length] ?? leader).clientUrl),
    });

  step('3. escrow a 256-bit backup key behind a password, recover it through another member');
  const backupKey = crypto.getRandomValues(new Uint8Array(32));
  await client(1).register('alice', 'correct horse battery staple', backupKey);
  ok(`escrowed for alice through ${fleet.members[1]?.id}: ${Buffer.from(backupKey).toString('hex')}`);
  const recovered = await client(4).recover('alice', 'correct horse battery staple');
  if (!Buffer.from(recovered).equals(Buffer.from(backupKey))) throw new Error('recovered a different key');
  ok(
    `recovered through ${fleet.members[4]?.id}: the same key; every response signed by a certified member HSM`,
  );

  step(`4. ${guessLimit} wrong passwords lock a record forever`);
  await client(2).register('bob', 'bobs real password', crypto.getRandomValues(new Uint8Array(32)));
  for (let i = 1; i <= guessLimit; i++) {
    try {
      await client(i).recover('bob', `guess number ${i}`);
      throw new Error('a wrong password recovered a key');
    } catch (e) {
      if (!(e instanceof BackupError) || e.code !== 'wrong-password') throw e;
    }
  }
  ok(`${guessLimit} wrong guesses refused, each counted through consensus before it was evaluated`);
  try {
    await client(0).recover('bob', 'bobs real password');
    throw new Error('a locked record released its key');
  } catch (e) {
    if (!(e instanceof BackupError) || e.code !== 'locked') throw e;
    ok('the right password is refused now too: HTTP 423, locked forever');
  }

  step('5. kill -9 the Raft leader; recover through the survivors');
  const oldLeader = await fleet.leader();
  await fleet.kill(oldLeader);
  const newLeader = await fleet.leader(20_000);
  ok(`${oldLeader.id} killed; ${newLeader.id} leads now`);
  // A client reaches a live member (in Kubernetes: the client Service routes only to ready ones).
  const survivor = fleet.members.findIndex((m) => m !== oldLeader && m !== newLeader);
  const again = await client(survivor).recover('alice', 'correct horse battery staple');
  if (!Buffer.from(again).equals(Buffer.from(backupKey))) throw new Error('recovered a different key');
  ok(`alice recovered her key again through ${fleet.members[survivor]?.id}: nothing acknowledged was lost`);

  if (keep) {
    step('where to look');
    for (const m of fleet.members)
      console.log(`   ${m.id}: metrics ${m.metricsUrl}/metrics  log ${m.logFile}`);
    fleet.spawn(oldLeader);
    console.log('\n   the fleet keeps running (Ctrl-C stops it and removes its files)');
  } else {
    console.log(
      '\n(npm run main -- --keep leaves the fleet running, with its metrics and logs, until Ctrl-C)',
    );
    await stop(0);
  }
} catch (e) {
  console.error(`\nFAILED: ${e instanceof Error ? e.message : String(e)}\n   logs: ${fleet.root}`);
  await stop(1);
}
