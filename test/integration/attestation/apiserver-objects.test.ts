// The attestation's Kubernetes writes against a real kube-apiserver (etcd + kube-apiserver, no
// nodes), where server-side apply's ownership rules are the real ones and not the fake's merge:
// the record in <fleet>-attestation is a compare-and-swap (a write from a stale read conflicts,
// nothing is lost), and the entries of <kd>-attestation-signers and <fleet>-member-certificates
// belong to one field manager each, so fleets and members never remove each other's.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  memberCertificateFieldManager,
  memberCertificatePatch,
} from '../../../operator/src/controllers/vaultfleet/attestation-certificates.ts';
import {
  attestationSignersPatch,
  signerFieldManager,
} from '../../../operator/src/controllers/vaultfleet/attestation-key.ts';
import { applyAttestationRecord } from '../../../operator/src/controllers/vaultfleet/attestation-publisher.ts';
import { KubeClient } from '../../../operator/src/runtime/client.ts';
import { isConflict } from '../../../operator/src/runtime/errors.ts';
import { builtin, type Unstructured } from '../../../operator/src/runtime/resource.ts';
import { KubeConfigTransport } from '../../../operator/src/runtime/transport.ts';
import { testFleet } from '../../../operator/src/specs/test-fleet.ts';
import { missingBinaries, startTestApiServer, type TestApiServer } from '../operator-runtime/apiserver.ts';

// A missing binary fails this file with what to run, never a silent skip.
const missing = missingBinaries();
if (missing.length > 0) {
  throw new Error(`${missing.join(', ')} not built: run test/cluster/build.sh (or npm run setup:test)`);
}

const NS = 'vaults';
let server: TestApiServer;
let client: KubeClient;
const cm = (name: string) => client.get<Unstructured>(builtin.configMap, NS, name);

beforeAll(async () => {
  server = await startTestApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig);
  client = new KubeClient(new KubeConfigTransport(kc));
  await client.apply(builtin.namespace, { metadata: { name: NS } });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('attestation objects on a real API server', () => {
  it('writes the record as a compare-and-swap and replaces it whole', async () => {
    const fleet = testFleet();
    const created = await applyAttestationRecord(client, fleet, undefined, {
      'bundle.json': '{"b":1}',
      'pending.json': '{"p":2}',
    });
    expect(created.data).toEqual({ 'bundle.json': '{"b":1}', 'pending.json': '{"p":2}' });
    const next = await applyAttestationRecord(client, fleet, created, {
      'bundle.json': '{"b":2}',
      'pending.json': '',
    });
    expect(next.data).toEqual({ 'bundle.json': '{"b":2}', 'pending.json': '' });
    // A pass that read the record before `next` was written must not overwrite it.
    await expect(
      applyAttestationRecord(client, fleet, created, { 'bundle.json': '{"b":9}', 'pending.json': '' }),
    ).rejects.toSatisfy(isConflict);
    expect((await cm('backups-attestation'))['data']).toEqual({
      'bundle.json': '{"b":2}',
      'pending.json': '',
    });
    // Any resourceVersion but the current one conflicts, however old.
    const stale = { metadata: { resourceVersion: '1' } };
    await expect(
      applyAttestationRecord(client, fleet, stale, { 'bundle.json': 'x', 'pending.json': '' }),
    ).rejects.toSatisfy(isConflict);
  });

  it("keeps each fleet's key in the signers ConfigMap apart, and removes only a deleted fleet's", async () => {
    const a = testFleet({}, 'alpha');
    const b = testFleet({}, 'beta');
    const key = (n: number) => new Uint8Array(32).fill(n);
    for (const [f, n] of [
      [a, 1],
      [b, 2],
    ] as const) {
      await client.apply(builtin.configMap, attestationSignersPatch(f, 'keys', key(n)) as Unstructured, {
        fieldManager: signerFieldManager(f),
      });
    }
    expect((await cm('keys-attestation-signers'))['data']).toEqual({
      'vaults.alpha': '01'.repeat(32),
      'vaults.beta': '02'.repeat(32),
    });
    await client.apply(builtin.configMap, attestationSignersPatch(a, 'keys', undefined) as Unstructured, {
      fieldManager: signerFieldManager(a),
    });
    expect((await cm('keys-attestation-signers'))['data']).toEqual({ 'vaults.beta': '02'.repeat(32) });
  });

  it('records each member certificate under its own field manager', async () => {
    const fleet = testFleet();
    for (const [id, n] of [
      ['backups-dc1', 1],
      ['backups-dc2', 2],
      ['backups-dc1', 3],
    ] as const) {
      await client.apply(
        builtin.configMap,
        memberCertificatePatch(fleet, id, new Uint8Array([n])) as Unstructured,
        { fieldManager: memberCertificateFieldManager(id) },
      );
    }
    // dc1 re-certified: its entry replaced, dc2's kept.
    expect((await cm('backups-member-certificates'))['data']).toEqual({
      'backups-dc1': 'Aw',
      'backups-dc2': 'Ag',
    });
  });
});
