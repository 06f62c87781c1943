import { vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import type { V1Container, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { Label } from '../labels.ts';
import { directoryServiceAccounts, publisherLease, publisherRole, publisherRoleBinding } from './access.ts';
import {
  DirectoryKeyFile,
  publicKeyOf,
  publicKeysConfigMap,
  signingKeySecret,
  vrfKeySecret,
  witnessKeySecret,
} from './keys.ts';
import { directoryNames } from './names.ts';
import { directoryServices } from './services.ts';
import { directoryClaims } from './storage.ts';
import { testDirectory } from './test-directory.ts';
import { publisherDeployment, readApiUrl, readerDeployment, witnessStatefulSet } from './workloads.ts';

const seq = (n: number) => Uint8Array.from({ length: n }, (_, i) => i + 1);
const containerOf = (d: V1Deployment): V1Container => d.spec?.template.spec?.containers[0] as V1Container;
const envMap = (c: V1Container) => new Map((c.env ?? []).map((e: V1EnvVar) => [e.name, e]));

describe('KeyDirectory objects', () => {
  const kd = testDirectory();

  it('names every object within 63 characters, even for a long directory name', () => {
    const long = testDirectory({}, `d${'x'.repeat(200)}.example`);
    const names = directoryNames(long);
    const all = [
      names.readService,
      names.publisher,
      names.reader,
      names.witness(8),
      names.witnessPod(8),
      names.witnessKey(8),
      names.vrfKey,
      names.signingKey,
      names.publicKeys,
      names.attestationSigners,
      names.dataClaim,
      names.auditClaim,
    ];
    for (const n of all) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(names.witness(8).length).toBeLessThanOrEqual(52);
    expect(new Set(all).size).toBe(all.length);
  });

  it('keys: immutable Secrets holding 32-byte keys with their matching public halves', () => {
    const vrf = vrfKeySecret(kd, seq);
    const signing = signingKeySecret(kd, seq);
    const witness = witnessKeySecret(kd, 0, seq);
    for (const s of [vrf, signing, witness]) {
      expect(s.immutable).toBe(true);
      expect(s.metadata?.ownerReferences?.[0]?.uid).toBe(kd.metadata.uid);
    }
    expect(publicKeyOf(vrf, DirectoryKeyFile.vrfPublic)).toEqual(vrfSecretKey(seq(32)).publicKey.bytes);
    expect(publicKeyOf(signing, DirectoryKeyFile.signingPublic)).toEqual(ed25519.getPublicKey(seq(32)));
    expect(witness.metadata?.name).toBe('transparency-witness-0-key');
    expect(() => vrfKeySecret(kd, () => new Uint8Array(31))).toThrow(/returned 31 bytes/);
    const cm = publicKeysConfigMap(kd, {
      vrf: new Uint8Array(32).fill(1),
      signing: new Uint8Array(32).fill(2),
      witnesses: new Map([['transparency-witness-0-0', new Uint8Array(32).fill(3)]]),
    });
    expect(cm.data).toEqual({
      'vrf-public-key': '01'.repeat(32),
      'signing-public-key': '02'.repeat(32),
      'witness-transparency-witness-0-0': '03'.repeat(32),
    });
  });

  it('publisher: two pods, Lease-elected, the only ones with the signing key and an API token', () => {
    const d = publisherDeployment(kd);
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    const c = containerOf(d);
    expect(c.args).toEqual(['--mode', 'publisher']);
    const env = envMap(c);
    expect(env.get('KEYFLEET_WRITER_LEASE')?.value).toBe('transparency-publisher');
    expect(env.get('KEYFLEET_NAMESPACE')?.value).toBe('vaults/transparency');
    expect(env.get('KEYFLEET_EPOCH_INTERVAL_MS')?.value).toBe('10000');
    expect(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(c.livenessProbe).toBeUndefined();
    expect(c.securityContext?.runAsNonRoot).toBe(true);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    const spec = d.spec?.template.spec;
    expect(spec?.serviceAccountName).toBe('transparency-publisher');
    expect(spec?.automountServiceAccountToken).toBe(true);
    const secrets = spec?.volumes?.flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect(secrets).toEqual(['transparency-vrf-key', 'transparency-signing-key']);
    // The selector picks the template's pods.
    for (const [k, v] of Object.entries(d.spec?.selector.matchLabels ?? {})) {
      expect(d.spec?.template.metadata?.labels?.[k]).toBe(v);
    }
  });

  it('readers: spec.readers pods with the VRF key but not the signing key, and no API token', () => {
    const d = readerDeployment(testDirectory({ readers: 5 }));
    expect(d.spec?.replicas).toBe(5);
    const spec = d.spec?.template.spec;
    expect(spec?.automountServiceAccountToken).toBe(false);
    const secrets = spec?.volumes?.flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect(secrets).toEqual(['transparency-vrf-key']);
    const env = envMap(containerOf(d));
    expect(env.get('KEYFLEET_SIGNING_PUBLIC_KEY_FILE')?.value).toBe(
      '/etc/keyfleet/public/signing-public-key',
    );
    expect(containerOf(d).livenessProbe?.httpGet?.path).toBe('/healthz');
  });

  it('witness i: its own StatefulSet, key Secret and state volume, following the read API', () => {
    const sts = witnessStatefulSet(kd, 1);
    expect(sts.metadata?.name).toBe('transparency-witness-1');
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.spec?.volumeClaimTemplates?.[0]?.metadata?.name).toBe('state');
    const spec = sts.spec?.template.spec;
    const secrets = spec?.volumes?.flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect(secrets).toEqual(['transparency-witness-1-key']);
    const signers = spec?.volumes?.find((v) => v.name === 'attestation-signers');
    expect(signers?.configMap).toMatchObject({ name: 'transparency-attestation-signers', optional: true });
    const env = new Map((spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.get('KEYFLEET_DIRECTORY_URL')).toBe(readApiUrl(kd));
    expect(readApiUrl(kd)).toBe('http://transparency.vaults.svc.cluster.local:8080');
    expect(sts.spec?.template.metadata?.labels?.['keyfleet.dev/witness']).toBe('1');
  });

  it('embedded storage and filesystem audit: two ReadWriteOnce claims mounted by publisher and readers', () => {
    expect(directoryClaims(kd).map((c) => c.metadata?.name)).toEqual([
      'transparency-data',
      'transparency-audit',
    ]);
    const env = envMap(containerOf(readerDeployment(kd)));
    expect(env.get('KEYFLEET_DATA_DIR')?.value).toBe('/var/lib/keyfleet/directory');
    expect(env.get('KEYFLEET_AUDIT_DIR')?.value).toBe('/var/lib/keyfleet/audit');
    expect(env.has('KEYFLEET_POSTGRES_URL')).toBe(false);
  });

  it('postgres and S3: no claims, connection and credentials from the named Secrets', () => {
    const remote = testDirectory({
      storage: { type: 'postgres', size: '1Gi', postgres: { secretRef: { name: 'pg' } } },
      auditStorage: {
        s3: { bucket: 'audit', endpoint: 'https://s3.example', prefix: 'kd/', secretRef: { name: 's3' } },
      },
    });
    expect(directoryClaims(remote)).toEqual([]);
    const d = publisherDeployment(remote);
    const env = envMap(containerOf(d));
    expect(env.get('KEYFLEET_POSTGRES_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'pg', key: 'url' });
    expect(env.get('AWS_SECRET_ACCESS_KEY')?.valueFrom?.secretKeyRef).toEqual({
      name: 's3',
      key: 'secretAccessKey',
    });
    expect(env.get('KEYFLEET_AUDIT_S3_BUCKET')?.value).toBe('audit');
    expect(env.has('KEYFLEET_AUDIT_DIR')).toBe(false);
    expect(d.spec?.template.spec?.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
  });

  it('services: reads through writer and readers, writes to the writer, witnesses headless', () => {
    const [read, publisher, witness] = directoryServices(kd);
    expect(read?.spec?.selector?.['keyfleet.dev/serves-reads']).toBe('true');
    for (const d of [publisherDeployment(kd), readerDeployment(kd)]) {
      const labels = d.spec?.template.metadata?.labels ?? {};
      for (const [k, v] of Object.entries(read?.spec?.selector ?? {})) expect(labels[k]).toBe(v);
    }
    expect(publisher?.spec?.selector?.[Label.component]).toBe('publisher');
    expect(witness?.spec?.clusterIP).toBe('None');
  });

  it('RBAC: the publisher may get and update its one Lease, nothing else', () => {
    expect(publisherRole(kd).rules).toEqual([
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['transparency-publisher'],
        verbs: ['get', 'update'],
      },
    ]);
    expect(publisherRoleBinding(kd).subjects).toEqual([
      { kind: 'ServiceAccount', name: 'transparency-publisher', namespace: 'vaults' },
    ]);
    expect(publisherLease(kd).metadata?.name).toBe('transparency-publisher');
    expect(directoryServiceAccounts(kd).map((s) => s.automountServiceAccountToken)).toEqual([true, false]);
  });
});
