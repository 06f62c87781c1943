import { describe, expect, it } from 'vitest';
import { memberConfigHash } from './config-hash.ts';
import { Annotation, fleetOwnerReference, Label } from './labels.ts';
import { adminUrl, memberPod, peerUrl, ZONE_LABEL } from './member-pod.ts';
import { DEFAULT_SPEC_OPTIONS } from './options.ts';
import { testFleet } from './test-fleet.ts';
import { Env, HttpPath, MountPath, Port, PortName, VAULT_GID, VAULT_UID } from './vault-contract.ts';

const fleet = testFleet({
  resources: { requests: { cpu: '100m', memory: 128 }, limits: { memory: '256Mi' } },
});
const pod = memberPod(fleet, { zone: 'dc3', clusterState: 'existing' });
const spec = pod.spec!;
const container = spec.containers[0]!;
const envOf = (name: string) => container.env?.find((e) => e.name === name)?.value;

describe('memberPod', () => {
  it('mounts only the bundle of the optional attestation ConfigMap and says where it is', () => {
    const volume = spec.volumes?.find((v) => v.configMap?.name === 'backups-attestation');
    expect(volume?.configMap).toEqual({
      name: 'backups-attestation',
      optional: true,
      defaultMode: 0o444,
      items: [{ key: 'bundle.json', path: 'bundle.json' }],
    });
    const mount = container.volumeMounts?.find((m) => m.name === volume?.name);
    expect(mount).toEqual({ name: volume?.name, mountPath: '/etc/keyfleet/attestation', readOnly: true });
    expect(envOf(Env.attestationBundleFile)).toBe('/etc/keyfleet/attestation/bundle.json');
  });

  it('is the member of its zone, owned by the fleet, labelled for selection', () => {
    expect(pod.metadata?.name).toBe('backups-dc3');
    expect(pod.metadata?.namespace).toBe('vaults');
    expect(pod.metadata?.labels).toMatchObject({
      [Label.name]: 'vault-node',
      [Label.instance]: 'backups',
      [Label.component]: 'member',
      [Label.partOf]: 'keyfleet',
      [Label.managedBy]: 'keyfleet-operator',
      [Label.zone]: 'dc3',
    });
    expect(pod.metadata?.ownerReferences).toEqual([fleetOwnerReference(fleet)]);
  });

  it('is pinned to its zone by required node affinity', () => {
    const terms =
      spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    expect(terms).toEqual([{ matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: ['dc3'] }] }]);
  });

  it('gets its DNS name under the headless peer Service', () => {
    expect(spec.hostname).toBe('backups-dc3');
    expect(spec.subdomain).toBe('backups-peers');
    expect(peerUrl(fleet, 'dc3', 'cluster.local')).toBe(
      'http://backups-dc3.backups-peers.vaults.svc.cluster.local:7000',
    );
    expect(envOf(Env.peerUrlTemplate)).toBe('http://{member}.backups-peers.vaults.svc.cluster.local:7000');
    expect(adminUrl(fleet, 'dc3', 'cluster.local')).toBe(
      'http://backups-dc3.backups-peers.vaults.svc.cluster.local:8081',
    );
    // The template and the per-member URL agree.
    expect(envOf(Env.peerUrlTemplate)?.replace('{member}', 'backups-dc3')).toBe(
      peerUrl(fleet, 'dc3', 'cluster.local'),
    );
  });

  it('runs as non-root with a read-only root, no privilege escalation, no capabilities, seccomp', () => {
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: VAULT_UID,
      runAsGroup: VAULT_GID,
      fsGroup: VAULT_GID,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe('backups-vault');
    expect(spec.enableServiceLinks).toBe(false);
  });

  it('takes image, pull policy and resources from the spec, quantities as strings', () => {
    expect(container.image).toBe('ghcr.io/keyfleet/vault-node:0.1.0');
    expect(container.imagePullPolicy).toBe('IfNotPresent');
    expect(container.resources).toEqual({
      requests: { cpu: '100m', memory: '128' },
      limits: { memory: '256Mi' },
    });
  });

  it('tells the vault who and where it is', () => {
    expect(envOf(Env.fleetId)).toBe('vaults/backups');
    expect(envOf(Env.memberId)).toBe('backups-dc3');
    expect(envOf(Env.zone)).toBe('dc3');
    expect(envOf(Env.clusterState)).toBe('existing');
    expect(envOf(Env.initialMembers)).toBe(fleet.spec.zones.map((z) => `backups-${z}`).join(','));
    expect(envOf(Env.guessLimit)).toBe('10');
    expect(envOf(Env.dataDir)).toBe(MountPath.data);
    expect(envOf(Env.sealingKeyFile)).toBe('/etc/keyfleet/sealing/sealing-key');
    expect(envOf(Env.manufacturerCaFile)).toBe('/etc/keyfleet/trust/manufacturer-ca.ed25519.pub');
    expect(envOf(Env.operatorAdminKeyFile)).toBe('/etc/keyfleet/trust/operator-admin.ed25519.pub');
    expect(envOf(Env.clientPort)).toBe(String(Port.client));
    const names = container.env!.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('exposes the four ports by name and probes the admin port', () => {
    expect(container.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['client', 8080],
      ['peer', 7000],
      ['admin', 8081],
      ['metrics', 9090],
    ]);
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: HttpPath.readyz, port: PortName.admin });
    expect(container.livenessProbe?.httpGet).toMatchObject({ path: HttpPath.healthz, port: PortName.admin });
    expect(container.startupProbe?.httpGet).toMatchObject({ path: HttpPath.healthz, port: PortName.admin });
  });

  it('asks the vault to leave safely before it stops, within the grace period', () => {
    expect(spec.terminationGracePeriodSeconds).toBe(DEFAULT_SPEC_OPTIONS.terminationGracePeriodSeconds);
    const hook = container.lifecycle?.preStop?.httpGet;
    expect(hook?.port).toBe(PortName.admin);
    const timeout = Number(new URL(hook!.path!, 'http://x').searchParams.get('timeoutSeconds'));
    expect(new URL(hook!.path!, 'http://x').pathname).toBe('/v1/admin/prepare-stop');
    expect(timeout).toBeGreaterThan(0);
    expect(timeout).toBeLessThan(spec.terminationGracePeriodSeconds!);
  });

  it('mounts data, its own sealing key (0400), the trust bundle and an in-memory /tmp', () => {
    const volumes = Object.fromEntries(spec.volumes!.map((v) => [v.name, v]));
    expect(volumes['data']?.persistentVolumeClaim?.claimName).toBe('backups-dc3-data');
    expect(volumes['sealing-key']?.secret).toMatchObject({
      secretName: 'backups-dc3-sealing-key',
      defaultMode: 0o400,
    });
    expect(volumes['trust']?.configMap?.name).toBe('backups-trust');
    expect(volumes['tmp']?.emptyDir?.medium).toBe('Memory');
    const mounts = Object.fromEntries(container.volumeMounts!.map((m) => [m.name, m]));
    expect(mounts['sealing-key']).toMatchObject({ mountPath: MountPath.sealingKey, readOnly: true });
    expect(mounts['trust']?.readOnly).toBe(true);
    expect(mounts['data']?.mountPath).toBe(MountPath.data);
    expect(mounts['tmp']?.mountPath).toBe('/tmp');
    // The manufacturer CA and operator admin private keys are never mounted into a member.
    expect(JSON.stringify(spec)).not.toMatch(/manufacturer-ca"|operator-admin-key/);
  });

  it('records the restart-relevant configuration hash', () => {
    expect(pod.metadata?.annotations?.[Annotation.configHash]).toBe(memberConfigHash(fleet.spec));
  });

  it('is deterministic', () => {
    expect(memberPod(fleet, { zone: 'dc3', clusterState: 'existing' })).toEqual(pod);
    expect(JSON.stringify(memberPod(fleet, { zone: 'dc3', clusterState: 'existing' }))).toBe(
      JSON.stringify(pod),
    );
  });

  it('refuses a fleet without a uid: it could not own the pod', () => {
    const noUid = testFleet();
    delete noUid.metadata.uid;
    expect(() => memberPod(noUid, { zone: 'dc1', clusterState: 'new' })).toThrow(/uid/);
  });
});
