import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { hsmCertificateRequest } from '../../../../test/integration/attestation/fixture.ts';
import { Annotation } from '../../specs/labels.ts';
import {
  type AttestationObservation,
  attestedDeployment,
  hsmKeyIdMatches,
  imageDigest,
} from './attestation-inputs.ts';

const DIGEST = 'ab'.repeat(32);
const ca = CertificateAuthority.fromSeed(new Uint8Array(32).fill(1));
const FLEET_ID = 'vaults/backups';

function certificate(n: number, member: string, zone: string, fleet = FLEET_ID): Uint8Array {
  return ca.issue(hsmCertificateRequest(n, fleet, member, zone), {
    expect: { fleet, member, zone },
    notBefore: 0,
    notAfter: 4_000_000_000,
  });
}

function pod(hash: string, imageID: string): V1Pod {
  return {
    metadata: { annotations: { [Annotation.configHash]: hash } },
    status: { containerStatuses: [{ name: 'vault', imageID } as never] },
  };
}

describe('imageDigest', () => {
  it('takes a pinned spec.image first', () => {
    expect(imageDigest(`reg/vault@sha256:${DIGEST}`, [], 'h')).toEqual({ digest: `sha256:${DIGEST}` });
  });

  it("takes the digest every current member's imageID agrees on", () => {
    const pods = [pod('h', `reg/vault@sha256:${DIGEST}`), pod('h', `docker.io/reg/vault@sha256:${DIGEST}`)];
    // A pod of an older spec does not count.
    pods.push(pod('old', `reg/vault@sha256:${'cd'.repeat(32)}`));
    expect(imageDigest('reg/vault:1.0', pods, 'h')).toEqual({ digest: `sha256:${DIGEST}` });
  });

  it('says so when no digest can be had, or when the members disagree', () => {
    // What the test cluster's agent reports for an unpinned image: no digest in it.
    expect(imageDigest('reg/vault:1.0', [pod('h', 'keyfleet.test/local@reg/vault:1.0')], 'h')).toMatchObject({
      reason: 'ImageDigestUnknown',
    });
    expect(imageDigest('reg/vault:1.0', [], 'h')).toMatchObject({ reason: 'ImageDigestUnknown' });
    const two = [pod('h', `r@sha256:${DIGEST}`), pod('h', `r@sha256:${'cd'.repeat(32)}`)];
    expect(imageDigest('reg/vault:1.0', two, 'h')).toMatchObject({ reason: 'ImageDigestsDiffer' });
  });
});

describe('hsmKeyIdMatches', () => {
  it('accepts a prefix of the identity key or of its SHA-256, nothing else', () => {
    const identity = decodeCertificate(certificate(10, 'backups-dc1', 'dc1')).identityPublicKey;
    const hex = Buffer.from(identity).toString('hex');
    expect(hsmKeyIdMatches(hex.slice(0, 16), identity)).toBe(true);
    expect(hsmKeyIdMatches(hex, identity)).toBe(true);
    expect(hsmKeyIdMatches('00'.repeat(8), identity)).toBe(false);
    expect(hsmKeyIdMatches('', identity)).toBe(false);
    expect(hsmKeyIdMatches(`key-${hex}`, identity)).toBe(false);
  });
});

describe('attestedDeployment', () => {
  const zones = ['dc1', 'dc2', 'dc3'];
  const certs = zones.map((z, i) => certificate(10 + i, `backups-${z}`, z));
  const keyId = (c: Uint8Array) =>
    Buffer.from(decodeCertificate(c).identityPublicKey).toString('hex').slice(0, 16);
  const base: AttestationObservation = {
    settled: true,
    specZones: zones,
    voters: ['dc3', 'dc1', 'dc2'],
    memberIds: new Map(zones.map((z) => [z, `backups-${z}`])),
    hsmKeyIds: new Map(zones.map((z, i) => [z, keyId(certs[i] as Uint8Array)])),
    certificates: new Map(zones.map((z, i) => [`backups-${z}`, certs[i] as Uint8Array])),
    opaqueServerPublicKeys: ['11'.repeat(32), '11'.repeat(32), undefined],
    image: { digest: `sha256:${DIGEST}` },
    imageRef: 'reg/vault:1.0',
    guessLimit: 10,
    manufacturerCaPublicKey: ca.publicKey,
    fleetId: FLEET_ID,
    directory: { namespace: 'vaults', name: 'keys' },
  };

  it('lists the voters by zone with the certificates issued to them', () => {
    const d = attestedDeployment(base);
    if ('reason' in d) throw new Error(d.message);
    expect(d.members.map((m) => [m.id, m.zone])).toEqual(zones.map((z) => [`backups-${z}`, z]));
    expect(d.members[1]?.certificate).toEqual(certs[1]);
    expect(d.zones).toEqual(zones);
    expect(Buffer.from(d.opaqueServerPublicKey).toString('hex')).toBe('11'.repeat(32));
    expect(d.image).toEqual({ ref: 'reg/vault:1.0', digest: `sha256:${DIGEST}` });
  });

  const reasonOf = (o: Partial<AttestationObservation>) => {
    const d = attestedDeployment({ ...base, ...o });
    return 'reason' in d ? d.reason : 'attestable';
  };

  it('waits, with the reason, for whatever it cannot know honestly', () => {
    expect(reasonOf({ settled: false })).toBe('MembershipChanging');
    expect(reasonOf({ voters: ['dc1', 'dc2'] })).toBe('MembershipChanging');
    expect(reasonOf({ image: { reason: 'ImageDigestUnknown', message: 'm' } })).toBe('ImageDigestUnknown');
    expect(reasonOf({ hsmKeyIds: new Map() })).toBe('MemberUnknown');
    expect(reasonOf({ certificates: new Map() })).toBe('MemberCertificateUnknown');
    // The member reports another HSM key than the certificate on record (its HSM was replaced).
    expect(reasonOf({ hsmKeyIds: new Map(zones.map((z) => [z, '00'.repeat(8)])) })).toBe(
      'MemberCertificateMismatch',
    );
    // A certificate recorded under another member's id.
    const swapped = new Map(zones.map((z, i) => [`backups-${z}`, certs[(i + 1) % 3] as Uint8Array]));
    expect(reasonOf({ certificates: swapped })).toBe('MemberCertificateMismatch');
    expect(
      reasonOf({ certificates: new Map([...base.certificates].map(([k]) => [k, new Uint8Array(5)])) }),
    ).toBe('MemberCertificateMismatch');
    expect(reasonOf({ opaqueServerPublicKeys: [undefined, null] })).toBe('OpaqueServerKeyUnknown');
    expect(reasonOf({ opaqueServerPublicKeys: ['xyz'] })).toBe('OpaqueServerKeyUnknown');
    expect(reasonOf({ opaqueServerPublicKeys: ['11'.repeat(32), '22'.repeat(32)] })).toBe(
      'OpaqueServerKeysDiffer',
    );
    expect(reasonOf({})).toBe('attestable');
  });
});
