// Which Raft member id a zone's member has. The specs name every member after its zone
// (memberName), which is right for a member's whole life on one volume; but a member whose data is
// lost must never rejoin under the id it had (it could vote twice in one term: the Raft core's
// rule). So every claim created after the fleet formed gets a fresh id, recorded on the claim,
// and the pod on that claim runs with it (KEYFLEET_MEMBER_ID, and the DNS hostname the peer URL
// template resolves). Bootstrap claims keep memberName, which KEYFLEET_INITIAL_MEMBERS lists.
// The pod keeps its zone name: the rollout addresses pods by zone, Raft by member id.
// This is the reconcile's adapter over the pure builders, which do not know about it yet.

import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Label } from '../../specs/labels.ts';
import { boundedName, memberName } from '../../specs/names.ts';
import type { RandomBytes } from '../../specs/secrets.ts';
import { Env } from '../../specs/vault-contract.ts';

export const MEMBER_ID_ANNOTATION = 'keyfleet.dev/member-id';

/** A member id never used before for this zone: `<memberName>-<4 random hex>`, a DNS label. */
export function freshMemberId(fleet: string, zone: string, randomBytes: RandomBytes): string {
  return boundedName(memberName(fleet, zone), bytesToHex(randomBytes(2)));
}

export function claimMemberId(claim: V1PersistentVolumeClaim, fleet: string, zone: string): string {
  return claim.metadata?.annotations?.[MEMBER_ID_ANNOTATION] ?? memberName(fleet, zone);
}

/** The claim, recording `memberId` as the id of the member whose data it will hold. */
export function withClaimMemberId(claim: V1PersistentVolumeClaim, memberId: string): V1PersistentVolumeClaim {
  return {
    ...claim,
    metadata: {
      ...claim.metadata,
      annotations: { ...claim.metadata?.annotations, [MEMBER_ID_ANNOTATION]: memberId },
    },
  };
}

export function podMemberId(pod: V1Pod): string | undefined {
  return pod.spec?.containers?.[0]?.env?.find((e) => e.name === Env.memberId)?.value;
}

/** The pod, running as `memberId`: its member id variable and its DNS hostname. */
export function withPodMemberId(pod: V1Pod, memberId: string): V1Pod {
  const containers = (pod.spec?.containers ?? []).map((c) => ({
    ...c,
    env: (c.env ?? []).map((e) => (e.name === Env.memberId ? { ...e, value: memberId } : e)),
  }));
  return { ...pod, spec: { ...pod.spec, containers, hostname: memberId } };
}

/** Member id -> zone for every id the fleet's objects name (and every zone's default name). */
export function memberZones(
  fleet: string,
  zones: Iterable<string>,
  pods: readonly V1Pod[],
  claims: readonly V1PersistentVolumeClaim[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const z of zones) out.set(memberName(fleet, z), z);
  for (const c of claims) {
    const z = c.metadata?.labels?.[Label.zone];
    if (z !== undefined) out.set(claimMemberId(c, fleet, z), z);
  }
  for (const p of pods) {
    const z = p.metadata?.labels?.[Label.zone];
    const id = podMemberId(p);
    if (z !== undefined && id !== undefined) out.set(id, z);
  }
  return out;
}
