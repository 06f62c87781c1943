// The attestation key Secret, the signers ConfigMap entry, the certificate record and the choice
// of directory pods: the objects and URLs the attestation I/O is built from.

import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { fleetOwnerReference, Label } from '../../specs/labels.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { memberCertificatePatch, readMemberCertificates } from './attestation-certificates.ts';
import { readyDirectoryUrls } from './attestation-directory.ts';
import {
  AttestationKeyData,
  attestationKeySecret,
  attestationSignersPatch,
  ensureAttestationKey,
  signerFieldManager,
} from './attestation-key.ts';

const fleet = testFleet({ storage: { size: '1Gi', retentionPolicy: 'Retain' } });
const fixed = (n: number) => (len: number) => new Uint8Array(len).fill(n);

describe('attestation key', () => {
  it('is an immutable Secret of its own holding a seed and its public key, kept under Retain', () => {
    const s = attestationKeySecret(fleet, fixed(9));
    expect(s.metadata?.name).toBe('backups-attestation-key');
    expect(s.immutable).toBe(true);
    expect(s.metadata?.labels?.[Label.component]).toBe('attestation-key');
    expect(s.metadata?.labels?.[Label.retentionPolicy]).toBe('Retain');
    expect(s.metadata?.ownerReferences).toBeUndefined();
    const seed = Buffer.from(s.data?.[AttestationKeyData.seed] ?? '', 'base64');
    expect(seed).toEqual(Buffer.alloc(32, 9));
    expect(Buffer.from(s.data?.[AttestationKeyData.publicKey] ?? '', 'base64')).toEqual(
      Buffer.from(ed25519.getPublicKey(seed)),
    );
    const deleted = attestationKeySecret(
      testFleet({ storage: { size: '1Gi', retentionPolicy: 'Delete' } }),
      fixed(9),
    );
    expect(deleted.metadata?.ownerReferences).toEqual([fleetOwnerReference(fleet)]);
  });

  it('is created once and then read, never replaced; a damaged one is an error', async () => {
    const stored = new Map<string, V1Secret>();
    const store = {
      get: async (name: string) => stored.get(name),
      createIfAbsent: async (s: V1Secret) => {
        stored.set(s.metadata?.name as string, s);
        return s;
      },
    };
    const a = await ensureAttestationKey(fleet, store, fixed(1));
    const b = await ensureAttestationKey(fleet, store, fixed(2));
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.seed).toEqual(a.seed);
    const s = stored.get('backups-attestation-key') as V1Secret;
    s.data = { ...s.data, [AttestationKeyData.publicKey]: Buffer.alloc(32, 3).toString('base64') };
    await expect(ensureAttestationKey(fleet, store, fixed(2))).rejects.toThrow(/not the public key/);
  });

  it("applies only this fleet's entry of the signers ConfigMap, under a field manager of its own", () => {
    const key = ed25519.getPublicKey(new Uint8Array(32).fill(1));
    const cm = attestationSignersPatch(fleet, 'keys', key);
    expect(cm.metadata).toEqual({ name: 'keys-attestation-signers', namespace: 'vaults' });
    expect(cm.data).toEqual({ 'vaults.backups': Buffer.from(key).toString('hex') });
    expect(attestationSignersPatch(fleet, 'keys', undefined).data).toBeUndefined();
    expect(signerFieldManager(fleet)).toBe('keyfleet-attestation-vaults.backups');
  });
});

describe('member certificate record', () => {
  it('round-trips by member id and leaves out what is not a certificate', () => {
    const cm = memberCertificatePatch(fleet, 'backups-dc1', new Uint8Array([1, 2, 3]));
    expect(cm.metadata?.name).toBe('backups-member-certificates');
    cm.data = { ...cm.data, 'backups-dc2': 'not base64!', 'backups-dc3': 'A'.repeat(5000) };
    expect([...readMemberCertificates(cm)]).toEqual([['backups-dc1', new Uint8Array([1, 2, 3])]]);
    expect(readMemberCertificates(undefined).size).toBe(0);
  });
});

describe('readyDirectoryUrls', () => {
  const pod = (
    name: string,
    component: string,
    o: { ready?: boolean; ip?: string; port?: number; kd?: string } = {},
  ) =>
    ({
      metadata: {
        name,
        labels: { 'app.kubernetes.io/instance': o.kd ?? 'keys', 'app.kubernetes.io/component': component },
      },
      spec: { containers: [{ name: 'c', ports: o.port ? [{ name: 'http', containerPort: o.port }] : [] }] },
      status: {
        podIP: o.ip ?? '10.0.0.1',
        conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
      },
    }) as V1Pod;

  it('picks Ready pods of the directory and component by pod IP, in name order', () => {
    const pods = [
      pod('keys-witness-1', 'witness', { ip: '10.0.0.2' }),
      pod('keys-witness-0', 'witness', { ip: 'fd00::1', port: 9000 }),
      pod('keys-witness-2', 'witness', { ready: false }),
      pod('other-witness-0', 'witness', { kd: 'other' }),
      pod('keys-publisher-a', 'publisher'),
      pod('keys-witness-3', 'witness', { ip: '' }),
    ];
    expect(readyDirectoryUrls(pods, 'keys', 'witness')).toEqual([
      'http://[fd00::1]:9000',
      'http://10.0.0.2:8080',
    ]);
    expect(readyDirectoryUrls(pods, 'keys', 'reader')).toEqual([]);
  });
});
