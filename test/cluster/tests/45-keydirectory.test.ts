// The KeyDirectory controller end to end: crds/examples/keydirectory.yaml (epochs every 2 s) applied
// in its own namespace, the operator running as a process on the host. Changes posted to the writer
// become epochs, lookups through a reader verify with the sdk (`keyfleet lookup`), the witness
// countersigns every epoch; then the writer is killed (SIGKILL) while changes keep coming: the
// standby takes the Lease, nothing accepted is lost, the epochs stay one chain (no fork) and the
// witness follows. Prints the time from apply to Available and the writer failover time.
import { join } from 'node:path';
import { verifyCountersignature } from '@keyfleet/directory-node/witness/countersignature';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from '../src/config.ts';
import { faults } from '../src/control-client.ts';
import type { DirectoryStatus } from '../src/keyfleet.ts';
import { applyCrd } from '../src/keyfleet.ts';
import { ensureNamespace, isReady, Kube, type Obj, type PodObj, run, until, yamlDocs } from './helpers.ts';
import { type OperatorProcess, startOperatorProcess } from './operator-process.ts';

const ns = 'directories';
const kube = new Kube();
const kdPath = `/apis/keyfleet.dev/v1alpha1/namespaces/${ns}/keydirectories/transparency`;
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/transparency-publisher`;
const figures: Record<string, number> = {};
let operator: OperatorProcess | undefined;

type DirectoryObj = Obj & { status?: DirectoryStatus };

const directory = () => kube.get<DirectoryObj>(kdPath);
const condition = (d: DirectoryObj, type: string) => d.status?.conditions?.find((c) => c.type === type);

async function pods(component: string): Promise<PodObj[]> {
  const selector = encodeURIComponent(
    `app.kubernetes.io/instance=transparency,app.kubernetes.io/component=${component}`,
  );
  return (await kube.list<PodObj>(`/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)).items;
}

const url = (p: PodObj | undefined) => `http://${p?.status?.podIP}:8080`;

/** POSTs a change to whichever publisher pod is the Ready writer; true once it was accepted. */
async function postChange(username: string, value: string): Promise<boolean> {
  const writer = (await pods('publisher')).find(isReady);
  if (writer === undefined) return false;
  try {
    const res = await fetch(`${url(writer)}/v1/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        username,
        value: Buffer.from(value).toString('base64url'),
        requestId: `${username}-${value}`,
      }),
      signal: AbortSignal.timeout(5000),
    });
    return res.status === 202 || res.status === 200;
  } catch {
    return false;
  }
}

/** `keyfleet lookup` through a Ready reader, with the keys the directory status publishes. */
async function lookup(
  d: DirectoryObj,
  user: string,
): Promise<{ version: number; value: string; epoch: number }> {
  const reader = (await pods('reader')).find(isReady);
  const r = await run(process.execPath, [
    join(repoRoot, 'sdk/src/cli/main.ts'),
    'lookup',
    '--url',
    url(reader),
    '--user',
    user,
    '--vrf-key',
    d.status?.vrfPublicKey as string,
    '--signing-key',
    d.status?.signingPublicKey as string,
    '--namespace',
    `${ns}/transparency`,
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`keyfleet lookup ${user}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  const out = JSON.parse(r.stdout) as { version: number; value: string; epoch: number };
  return out;
}

beforeAll(async () => {
  // Only the KeyDirectory CRD: this file tests its controller (10-crds checks every CRD of crds/).
  await applyCrd(kube, 'KeyDirectory');
  await ensureNamespace(kube, ns);
  operator = startOperatorProcess(ns, '45-keydirectory');
});

afterAll(async () => {
  await kube.delete(kdPath).catch(() => false);
  await operator?.stop();
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(() => false);
  process.stderr.write(
    `45-keydirectory figures: ${JSON.stringify(figures)} (operator log ${operator?.logFile})\n`,
  );
}, 120_000);

describe('KeyDirectory controller on the local cluster', () => {
  test('apply -> writer, standby, readers and witness running; Available', async () => {
    const started = Date.now();
    const [example] = yamlDocs(join(repoRoot, 'crds/examples/keydirectory.yaml'));
    const kd = { ...example, metadata: { name: 'transparency', namespace: ns } } as Obj & {
      spec: Record<string, unknown>;
    };
    kd.spec = { ...kd.spec, epochInterval: '2s' };
    await kube.call('POST', `/apis/keyfleet.dev/v1alpha1/namespaces/${ns}/keydirectories`, kd);
    const ready = await until(
      'the directory Available with its readers and witness',
      async () => {
        const d = await directory();
        return d.status?.phase === 'Available' && d.status.readyReaders === 2 ? d : false;
      },
      150_000,
      1000,
    );
    figures['applyToAvailableSeconds'] = (Date.now() - started) / 1000;
    expect(ready.status?.vrfPublicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(ready.status?.witnesses).toHaveLength(1);
    const publishers = await pods('publisher');
    expect(publishers).toHaveLength(2);
    // Only the Lease holder is Ready; it is the one the status names.
    expect(publishers.filter(isReady).map((p) => p.metadata.name)).toEqual([ready.status?.publisher]);
    const lease = await kube.get<Obj & { spec?: { holderIdentity?: string } }>(leasePath);
    expect(lease.spec?.holderIdentity?.startsWith(`${ready.status?.publisher}_`)).toBe(true);
  }, 180_000);

  test('changes become epochs; lookups through a reader verify; the witness countersigns', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      await until(`change for ${user} accepted`, () => postChange(user, `${user}-key-1`), 30_000, 500);
    }
    const published = await until(
      'the changes published and witnessed',
      async () => {
        const d = await directory();
        const epoch = d.status?.currentEpoch ?? 0;
        return epoch >= 1 && d.status?.pendingChanges === 0 && (d.status?.witnessedEpoch ?? 0) >= epoch
          ? d
          : false;
      },
      90_000,
      1000,
    );
    const alice = await lookup(published, 'alice');
    expect(alice.version).toBe(1);
    expect(Buffer.from(alice.value, 'base64url').toString()).toBe('alice-key-1');
    // The witness's countersignature of the current epoch verifies under the key in the status.
    const epoch = published.status?.currentEpoch as number;
    const witness = (await pods('witness')).find(isReady);
    const res = await fetch(
      `${url(witness)}/namespaces/${encodeURIComponent(`${ns}/transparency`)}/audits/${epoch}`,
    );
    expect(res.status).toBe(200);
    const sig = (await res.json()) as { message: string; signature: string };
    const key = hexToBytes(published.status?.witnesses?.[0]?.publicKey as string);
    const m = verifyCountersignature(
      Buffer.from(sig.message, 'base64url'),
      Buffer.from(sig.signature, 'base64url'),
      key,
    );
    expect(m.epoch).toBe(epoch);
    expect(Buffer.from(m.digest).toString('hex')).toBe(published.status?.rootHash);
    expect(condition(published, 'Witnessed')?.status).toBe('True');
  }, 150_000);

  test('the writer killed: the standby takes over, no accepted change lost, one chain, witness follows', async () => {
    const before = await directory();
    const oldWriter = before.status?.publisher as string;
    const leaseBefore = await kube.get<
      Obj & { spec?: { holderIdentity?: string; leaseTransitions?: number } }
    >(leasePath);
    const holderBefore = leaseBefore.spec?.holderIdentity;
    const transitionsBefore = leaseBefore.spec?.leaseTransitions ?? 0;
    const accepted: string[] = [];
    // Changes before the crash.
    for (let i = 0; i < 5; i++) {
      const user = `before-${i}`;
      await until(`change ${user} accepted`, () => postChange(user, 'v1'), 30_000, 200);
      accepted.push(user);
    }
    const killedAt = Date.now();
    await faults.killPod(ns, oldWriter);
    // Changes during the failover, each retried until some writer accepts it.
    for (let i = 0; i < 5; i++) {
      const user = `during-${i}`;
      await until(`change ${user} accepted`, () => postChange(user, 'v1'), 60_000, 300);
      accepted.push(user);
    }
    const after = await until(
      'a writer again, everything published and witnessed',
      async () => {
        const d = await directory();
        const epoch = d.status?.currentEpoch ?? 0;
        return d.status?.phase === 'Available' &&
          d.status.pendingChanges === 0 &&
          epoch > (before.status?.currentEpoch ?? 0) &&
          (d.status.witnessedEpoch ?? 0) >= epoch
          ? d
          : false;
      },
      120_000,
      1000,
    );
    figures['writerFailoverSeconds'] = (Date.now() - killedAt) / 1000;
    for (const user of accepted) {
      const found = await lookup(after, user);
      expect(Buffer.from(found.value, 'base64url').toString(), user).toBe('v1');
    }
    // One chain: every epoch's previous root is the root of the epoch before it.
    const reader = (await pods('reader')).find(isReady);
    let previousRoot: string | undefined;
    for (let e = 1; e <= (after.status?.currentEpoch as number); e++) {
      const head = (await (await fetch(`${url(reader)}/v1/epochs/${e}`)).json()) as {
        rootHash: string;
        previousRootHash: string;
      };
      if (previousRoot !== undefined) expect(head.previousRootHash, `epoch ${e}`).toBe(previousRoot);
      previousRoot = head.rootHash;
    }
    expect(condition(after, 'Witnessed')?.status).toBe('True');
    // A new process holds the Lease (the killed pod may have come back as the standby or won it
    // again under a new identity: either way the Lease changed hands).
    const lease = await kube.get<Obj & { spec?: { holderIdentity?: string; leaseTransitions?: number } }>(
      leasePath,
    );
    expect(lease.spec?.holderIdentity).not.toBe(holderBefore);
    expect(lease.spec?.leaseTransitions).toBeGreaterThan(transitionsBefore);
  }, 240_000);
});
