// What an attestation says about the fleet, from what the reconcile observed: the members the Raft
// group has as voters with the HSM certificates the operator issued them, the vault image digest,
// the guess limit and the OPAQUE server key. Pure. When something cannot be known honestly the
// result is a reason to wait (it becomes the Attested condition), never a guess.
//
// Image digest: the attestation's subject is the vault-node image by digest. It is taken from
//   1. spec.image when it is pinned (`...@sha256:<64 hex>`), the recommended way; else
//   2. the imageID the kubelet reports for the vault container of every member pod that runs the
//      current spec (config hash), when each ends in `@sha256:<64 hex>` and all agree.
// Nothing else counts: a tag is not a digest, and a digest is never computed from a name.
// (In the test cluster the agent reports `keyfleet.test/local@<image>`, which carries a digest only
// when the image reference itself is pinned.)

import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import type { V1Pod } from '@kubernetes/client-node';
import { sha256 } from '@noble/hashes/sha2.js';
import { Annotation } from '../../specs/labels.ts';
import { CONTAINER_NAME } from '../../specs/member-pod.ts';

const PINNED = /@sha256:([0-9a-f]{64})$/;

/** The deployment an attestation describes; compared field by field with the last one. */
export interface AttestedDeployment {
  readonly members: readonly {
    readonly id: string;
    readonly zone: string;
    readonly certificate: Uint8Array;
  }[];
  readonly zones: readonly string[];
  readonly image: { readonly ref: string; readonly digest: string };
  readonly guessLimit: number;
  readonly opaqueServerPublicKey: Uint8Array;
  readonly manufacturerCaPublicKey: Uint8Array;
  readonly directory: { readonly namespace: string; readonly name: string };
}

export interface NotAttestable {
  readonly reason: string;
  readonly message: string;
}

export type ImageDigest = { readonly digest: string } | NotAttestable;

/** The image digest by the rules at the top of this file. */
export function imageDigest(
  specImage: string,
  memberPods: readonly V1Pod[],
  desiredConfigHash: string,
): ImageDigest {
  const pinned = PINNED.exec(specImage);
  if (pinned) return { digest: `sha256:${pinned[1]}` };
  const current = memberPods.filter(
    (p) => p.metadata?.annotations?.[Annotation.configHash] === desiredConfigHash,
  );
  const ids = current.map(
    (p) => p.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.imageID ?? '',
  );
  const digests = new Set(ids.map((id) => PINNED.exec(id)?.[1]));
  if (current.length === 0 || digests.has(undefined)) {
    return {
      reason: 'ImageDigestUnknown',
      message: `spec.image ${specImage} is not pinned by digest (@sha256:...) and the members' image IDs carry none; pin the image to attest it`,
    };
  }
  if (digests.size > 1) {
    return {
      reason: 'ImageDigestsDiffer',
      message: `the members running ${specImage} report different image digests: ${[...digests].join(', ')}`,
    };
  }
  return { digest: `sha256:${[...digests][0]}` };
}

/** A member's HSM key id as the vault reports it matches this identity key (prefix of it or of its SHA-256). */
export function hsmKeyIdMatches(reported: string, identityKey: Uint8Array): boolean {
  if (!/^[0-9a-f]{8,64}$/.test(reported)) return false;
  const hex = Buffer.from(identityKey).toString('hex');
  const hashed = Buffer.from(sha256(identityKey)).toString('hex');
  return hex.startsWith(reported) || hashed.startsWith(reported);
}

/** Whether `certificate` is for this fleet, member and zone, and for the HSM key the member reports. */
export function certificateMatches(
  certificate: Uint8Array | undefined,
  fleetId: string,
  memberId: string,
  zone: string,
  reportedKeyId: string,
): boolean {
  if (certificate === undefined) return false;
  try {
    const cert = decodeCertificate(certificate);
    const s = cert.subject;
    return (
      s.fleet === fleetId &&
      s.member === memberId &&
      s.zone === zone &&
      hsmKeyIdMatches(reportedKeyId, cert.identityPublicKey)
    );
  } catch {
    return false;
  }
}

export interface AttestationObservation {
  /** Whether the Raft group has a leader and no membership change under way. */
  readonly settled: boolean;
  readonly specZones: readonly string[];
  /** Zones of the voters, as the leader reports them. */
  readonly voters: readonly string[];
  /** Zone -> the member id the group knows that zone's member by. */
  readonly memberIds: ReadonlyMap<string, string>;
  /** Zone -> the HSM key id the member reports. */
  readonly hsmKeyIds: ReadonlyMap<string, string>;
  /** Member id -> the certificate the operator issued (recorded at provisioning). */
  readonly certificates: ReadonlyMap<string, Uint8Array>;
  /** What every answering member reports as the OPAQUE server public key (hex), undefined if it does not. */
  readonly opaqueServerPublicKeys: readonly (string | null | undefined)[];
  readonly image: ImageDigest;
  readonly imageRef: string;
  readonly guessLimit: number;
  readonly manufacturerCaPublicKey: Uint8Array;
  readonly fleetId: string;
  readonly directory: { readonly namespace: string; readonly name: string };
}

const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** The deployment to attest, or why it cannot be attested right now. */
export function attestedDeployment(o: AttestationObservation): AttestedDeployment | NotAttestable {
  if (!o.settled || !same(o.voters, o.specZones)) {
    return {
      reason: 'MembershipChanging',
      message: `waiting for the voters (${[...o.voters].sort().join(', ') || 'none'}) to settle on the spec's zones (${[...o.specZones].sort().join(', ')})`,
    };
  }
  if ('reason' in o.image) return o.image;
  const members: { id: string; zone: string; certificate: Uint8Array }[] = [];
  for (const zone of [...o.voters].sort()) {
    const id = o.memberIds.get(zone);
    const keyId = o.hsmKeyIds.get(zone);
    const certificate = id === undefined ? undefined : o.certificates.get(id);
    if (id === undefined || keyId === undefined) {
      return { reason: 'MemberUnknown', message: `member ${zone} has not reported its HSM key yet` };
    }
    if (certificate === undefined) {
      return {
        reason: 'MemberCertificateUnknown',
        message: `no certificate issued by this operator is recorded for member ${id}`,
      };
    }
    if (!certificateMatches(certificate, o.fleetId, id, zone, keyId)) {
      return {
        reason: 'MemberCertificateMismatch',
        message: `the recorded certificate of member ${id} is not for the HSM key ${keyId} it reports in zone ${zone}`,
      };
    }
    members.push({ id, zone, certificate });
  }
  const keys = new Set(o.opaqueServerPublicKeys.filter((k): k is string => typeof k === 'string'));
  if (keys.size === 0 || [...keys].some((k) => !/^[0-9a-f]{64}$/.test(k))) {
    return {
      reason: 'OpaqueServerKeyUnknown',
      message: 'no member reports the OPAQUE server public key (admin status opaqueServerPublicKey)',
    };
  }
  if (keys.size > 1) {
    return {
      reason: 'OpaqueServerKeysDiffer',
      message: `members report ${keys.size} different OPAQUE server keys`,
    };
  }
  return {
    members,
    zones: members.map((m) => m.zone),
    image: { ref: o.imageRef, digest: o.image.digest },
    guessLimit: o.guessLimit,
    opaqueServerPublicKey: new Uint8Array(Buffer.from([...keys][0] as string, 'hex')),
    manufacturerCaPublicKey: o.manufacturerCaPublicKey,
    directory: o.directory,
  };
}
