// npm run main — keyfleet end to end on this machine, the way a user runs it, saying what each step
// proved: a local Kubernetes cluster (test/cluster: a real control plane built from Go modules,
// seven zone nodes whose pods are processes in their own network namespaces), the Helm chart, the
// example KeyDirectory and VaultFleet, a backup key escrowed and recovered with the keyfleet CLI
// against the fleet's verified deployment attestation, a wrong-password lockout, a directory lookup
// proof, the Raft leader killed. The cluster stays up afterwards: `npm run main -- down` removes
// it; Ctrl-C during the run removes it too.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type KeyfleetKind,
  loadCrd,
  resourceValidator,
  storageSchema,
  validExamples,
} from '@keyfleet/sdk/api/index';
import { down, up } from '../test/cluster/src/cluster.ts';
import { paths, repoRoot, stateDir } from '../test/cluster/src/config.ts';
import { faults } from '../test/cluster/src/control-client.ts';
import {
  attestationTrust,
  createResource,
  customResourcePath,
  type DirectoryStatus,
  directoryAvailable,
  example,
  type FleetStatus,
  fleetReady,
  installChart,
  OPERATOR_NAMESPACE,
} from '../test/cluster/src/keyfleet.ts';
import { Kube, type Obj } from '../test/cluster/src/kube.ts';
import { binPath } from '../test/cluster/src/versions.ts';

const NS = 'vaults';
const FLEET = 'backups';
const DIRECTORY = 'transparency';

if (process.argv.includes('--help')) {
  console.log(`usage: npm run main            run keyfleet end to end on a local Kubernetes cluster
       npm run main -- down    stop the cluster and remove everything it made

Steps (each says what it proved):
  1. the example VaultFleet and KeyDirectory validate against the CRD schemas and CEL rules
  2. a local cluster comes up (control plane built from Go modules on first run; 7 zone nodes)
  3. helm install charts/keyfleet: the operator runs in the cluster with the chart's RBAC
  4. the example KeyDirectory and seven-zone VaultFleet are applied and become Available
  5. the fleet's deployment attestation is verified (keyfleet verify-fleet)
  6. a backup key is escrowed and recovered with the keyfleet CLI (attestation checked first)
  7. wrong passwords lock a record forever at the guess limit
  8. the attestation's digest is proven in the directory (keyfleet lookup)
  9. the Raft leader is killed; a recovery still succeeds
The cluster stays up afterwards (metrics and logs are printed); Ctrl-C during the run removes it.`);
  process.exit(0);
}

const step = (text: string) => console.log(`\n== ${text}`);
const ok = (text: string) => console.log(`   ok  ${text}`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

if (process.argv[2] === 'down') {
  await down({}, (m) => console.log(`   ${m}`));
  console.log('cluster down: processes, network namespaces, routes, nft rules and mounts removed');
  process.exit(0);
}

/** Runs the keyfleet CLI; resolves with its exit code and output. */
function keyfleet(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [join(repoRoot, 'sdk/src/cli/main.ts'), ...args],
      { timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function keyfleetOk(args: string[]): Promise<string> {
  const r = await keyfleet(args);
  if (r.code !== 0)
    throw new Error(`keyfleet ${args.slice(0, 2).join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | false | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let cleaning = false;
process.on('SIGINT', () => {
  if (cleaning) process.exit(130);
  cleaning = true;
  console.log('\ninterrupted: taking the cluster down');
  down().then(
    () => process.exit(130),
    () => process.exit(130),
  );
});

step('1. API: the examples in crds/examples against the CRD schemas and CEL rules');
let invalid = 0;
for (const ex of validExamples()) {
  const kind = ex.object.kind as KeyfleetKind;
  const { errors } = resourceValidator(storageSchema(loadCrd(kind))).validate(ex.object);
  if (errors.length === 0) ok(`${kind} ${ex.file}`);
  for (const error of errors) console.log(`   FAIL ${ex.file}: ${error.message}`);
  invalid += errors.length;
}
if (invalid > 0) process.exit(1);

const work = join(stateDir, 'main');
try {
  step('2. a local Kubernetes cluster: control plane from Go modules, seven zone nodes');
  let t = performance.now();
  const r = await up((m) => console.log(`   ${m}`));
  ok(`up in ${seconds(t)}; KUBECONFIG=${r.kubeconfig}`);
  const kube = new Kube();
  mkdirSync(work, { recursive: true });

  step(`3. helm install charts/keyfleet into ${OPERATOR_NAMESPACE}, watching namespace ${NS}`);
  t = performance.now();
  if ((await kube.getOrUndefined(`/api/v1/namespaces/${NS}`)) === undefined) {
    await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  }
  const installed = await kube.getOrUndefined(
    `/apis/apps/v1/namespaces/${OPERATOR_NAMESPACE}/deployments/keyfleet`,
  );
  await installChart({ watchNamespaces: [NS], upgrade: installed !== undefined });
  ok(`the operator is Ready in ${seconds(t)} (a pod, leader-elected, least-privilege Role in ${NS})`);

  step('4. the example KeyDirectory and the seven-zone VaultFleet');
  t = performance.now();
  await createResource(kube, example('keydirectory.yaml', NS));
  await createResource(kube, example('vaultfleet.yaml', NS));
  const directory = await until(
    'the KeyDirectory Available',
    () => directoryAvailable(kube, NS, DIRECTORY),
    300_000,
  );
  ok(
    `KeyDirectory ${DIRECTORY} Available in ${seconds(t)}: writer ${directory.status?.publisher}, ${directory.status?.readyReaders} readers, ${directory.status?.witnesses?.length} witness`,
  );
  const fleet = await until('seven Ready, certified members', () => fleetReady(kube, NS, FLEET), 300_000);
  ok(
    `VaultFleet ${FLEET}: ${fleet.status?.readyMembers} members Ready in ${seconds(t)}, leader ${fleet.status?.leader}, each HSM certified by the manufacturer CA`,
  );

  step(
    '5. the fleet deployment attestation: operator-signed, witness-countersigned, logged in the directory',
  );
  t = performance.now();
  const attested = await until(
    'the fleet attested',
    async () => {
      const f = await kube.get<Obj & { status?: FleetStatus }>(customResourcePath('VaultFleet', NS, FLEET));
      return (f.status?.attestation?.serial ?? 0) >= 1 ? f : false;
    },
    300_000,
  );
  const d = await kube.get<Obj & { status?: DirectoryStatus }>(
    customResourcePath('KeyDirectory', NS, DIRECTORY),
  );
  const trustFile = join(work, 'attestation-trust.json');
  writeFileSync(trustFile, await attestationTrust(kube, NS, FLEET, d.status));
  const member = await memberPod(kube, 0);
  const bundleUrl = `http://${member.status?.podIP}:8080/v1/attestation`;
  // Members serve the bundle once the kubelet has written the ConfigMap into their volume.
  await until('the member serving the bundle', async () => (await fetch(bundleUrl)).status === 200, 180_000);
  const verified = await keyfleetOk(['verify-fleet', '--bundle', bundleUrl, '--trust', trustFile]);
  ok(
    `attestation serial ${attested.status?.attestation?.serial} (${attested.status?.attestation?.digest}) in ${seconds(t)}, served by ${member.metadata.name}`,
  );
  for (const line of verified.trim().split('\n')) console.log(`       ${line}`);
  console.log(`   (the keys a client trusts came out of band; here from the cluster: ${trustFile})`);

  step('6. escrow a 256-bit backup key behind a password with the keyfleet CLI, recover it elsewhere');
  const password = join(work, 'alice.password');
  writeFileSync(password, 'correct horse battery staple\n', { mode: 0o600 });
  const cli = async (action: 'register' | 'recover', user: string, pw: string, index: number) => {
    const pod = await memberPod(kube, index);
    return keyfleet([
      'backup',
      action,
      '--attestation-trust',
      trustFile,
      '--fleet',
      `${NS}/${FLEET}`,
      '--url',
      `http://${pod.status?.podIP}:8080`,
      '--user',
      user,
      '--password-file',
      pw,
      '--json',
    ]);
  };
  // Names of this run: a second run on the same cluster escrows for new users.
  const run = Date.now().toString(36);
  const alice = `alice-${run}`;
  const bob = `bob-${run}`;
  const registered = await cli('register', alice, password, 1);
  if (registered.code !== 0) throw new Error(`register: ${registered.stderr}${registered.stdout}`);
  const key = (JSON.parse(registered.stdout) as { backupKey: string }).backupKey;
  ok(`escrowed for ${alice} through member 1: ${key}`);
  const recovered = await cli('recover', alice, password, 4);
  if (recovered.code !== 0 || (JSON.parse(recovered.stdout) as { backupKey: string }).backupKey !== key) {
    throw new Error(`recover: ${recovered.stderr}${recovered.stdout}`);
  }
  ok('recovered through member 4: the same key; every response signed by an attested member HSM');

  const guessLimit = (fleet as unknown as { spec: { guessLimit: number } }).spec.guessLimit;
  step(`7. ${guessLimit} wrong passwords lock a record forever`);
  const bobPassword = join(work, 'bob.password');
  const wrong = join(work, 'wrong.password');
  writeFileSync(bobPassword, 'bobs real password\n', { mode: 0o600 });
  writeFileSync(wrong, 'not bobs password\n', { mode: 0o600 });
  const bobRegistered = await cli('register', bob, bobPassword, 2);
  if (bobRegistered.code !== 0) throw new Error(`register ${bob}: ${bobRegistered.stderr}`);
  for (let i = 0; i < guessLimit; i++) {
    const guess = await cli('recover', bob, wrong, i);
    if (guess.code !== 3)
      throw new Error(`wrong guess ${i + 1}: exit ${guess.code} ${guess.stderr}${guess.stdout}`);
  }
  ok(`${guessLimit} wrong guesses refused, each counted through Raft consensus before it was evaluated`);
  const locked = await cli('recover', bob, bobPassword, 5);
  if (locked.code !== 3 || !`${locked.stdout}${locked.stderr}`.includes('locked')) {
    throw new Error(`the locked record answered: exit ${locked.code} ${locked.stdout}${locked.stderr}`);
  }
  ok('the right password is refused now too: locked forever (HTTP 423)');

  step('8. the attestation digest in the KeyDirectory, with a lookup proof the CLI verifies');
  const reader = await readerPod(kube);
  const lookupArgs = [
    'lookup',
    '--url',
    `http://${reader.status?.podIP}:8080`,
    '--user',
    `fleet/${NS}/${FLEET}`,
    '--vrf-key',
    d.status?.vrfPublicKey as string,
    '--signing-key',
    d.status?.signingPublicKey as string,
    '--namespace',
    `${NS}/${DIRECTORY}`,
  ];
  const lookup = await keyfleetOk(lookupArgs);
  for (const line of lookup.trim().split('\n')) console.log(`       ${line}`);
  const logged = JSON.parse(await keyfleetOk([...lookupArgs, '--json'])) as { value: string };
  const loggedDigest = `sha256:${Buffer.from(logged.value, 'base64url').toString('hex')}`;
  if (loggedDigest !== attested.status?.attestation?.digest) {
    throw new Error(
      `the directory logs ${loggedDigest}, the fleet status says ${attested.status?.attestation?.digest}`,
    );
  }
  ok(`the logged value is the attestation's envelope digest ${loggedDigest}`);
  ok(
    `verified against epoch heads signed by ${d.status?.signingPublicKey?.slice(0, 16)}…, witnessed to epoch ${d.status?.witnessedEpoch}`,
  );

  step('9. kill -9 the Raft leader; recover through the survivors');
  // status.leader names the leader's zone; status.members says which pod serves it.
  const fleetNow = await until('the fleet to report its leader', () => fleetReady(kube, NS, FLEET), 60_000);
  const leaderZone = fleetNow.status?.leader as string;
  const leaderPod = fleetNow.status?.members?.find((m) => m.zone === leaderZone)?.pod;
  if (leaderPod === undefined) throw new Error(`no pod for the leader zone ${leaderZone}`);
  await faults.killPod(NS, leaderPod);
  const after = await until(
    'a new leader',
    async () => {
      const f = await kube.get<Obj & { status?: FleetStatus }>(customResourcePath('VaultFleet', NS, FLEET));
      return f.status?.leader !== undefined && f.status.leader !== leaderZone ? f.status.leader : false;
    },
    60_000,
  );
  ok(`${leaderPod} (zone ${leaderZone}) killed; the member in zone ${after} leads now`);
  const again = await cli('recover', alice, password, 3);
  if (again.code !== 0) throw new Error(`recover after the leader died: ${again.stderr}${again.stdout}`);
  ok(`${alice} recovered the key again: nothing acknowledged was lost`);

  step('where to look');
  console.log(`   kubectl: KUBECONFIG=${paths.kubeconfig} ${binPath('kubectl')} get vf,kd -n ${NS}`);
  const pods = await kube.list<Obj & { status?: { podIP?: string } }>(`/api/v1/namespaces/${NS}/pods`);
  for (const p of pods.items) {
    const port = p.metadata.name?.startsWith(FLEET) ? 9090 : 8080;
    console.log(`   ${p.metadata.name}: metrics http://${p.status?.podIP}:${port}/metrics`);
  }
  const operatorPods = await kube.list<Obj & { status?: { podIP?: string } }>(
    `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods`,
  );
  for (const p of operatorPods.items)
    console.log(`   operator ${p.metadata.name}: metrics http://${p.status?.podIP}:8080/metrics`);
  console.log(
    `   logs: ${join(stateDir, 'logs')} (control plane) and ${join(stateDir, 'logs/pods')} (every pod)`,
  );
  console.log('\nkeyfleet is running. `npm run main -- down` stops the cluster and removes everything.');
  process.exit(0);
} catch (e) {
  console.error(`\nFAILED: ${e instanceof Error ? e.message : String(e)}`);
  console.error(
    `   logs: ${join(stateDir, 'logs')}; the cluster is still up for a look: npm run main -- down`,
  );
  process.exit(1);
}

async function memberPod(kube: Kube, index: number): Promise<Obj & { status?: { podIP?: string } }> {
  const pods = await kube.list<
    Obj & { status?: { podIP?: string; conditions?: { type: string; status: string }[] } }
  >(
    `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${FLEET},app.kubernetes.io/component=member`)}`,
  );
  const ready = pods.items
    .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const pod = ready[index % ready.length];
  if (pod === undefined) throw new Error('no Ready member pod');
  return pod;
}

async function readerPod(kube: Kube): Promise<Obj & { status?: { podIP?: string } }> {
  const pods = await kube.list<
    Obj & { status?: { podIP?: string; conditions?: { type: string; status: string }[] } }
  >(
    `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${DIRECTORY},app.kubernetes.io/component=reader`)}`,
  );
  const pod = pods.items.find((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  if (pod === undefined) throw new Error('no Ready directory reader');
  return pod;
}
