// Deterministic, length-safe names of everything a VaultFleet owns.
//
// A member's pod name is also its Raft member id and its DNS hostname under the headless peer
// Service, so it must be a DNS label (RFC 1123: at most 63 characters, lowercase alphanumerics and
// '-'). Fleet names are DNS subdomains (up to 253 characters, may contain '.'), so a name built from
// them is shortened and given a hash of the full input whenever it would not fit or had to be
// rewritten: two different fleets can never map to the same name, and the zone stays readable at
// the end. Every name here is at most 63 characters, also where Kubernetes would allow 253, so one
// rule covers them all.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export const MAX_NAME_LENGTH = 63;
const HASH_LENGTH = 8;

function shortHash(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text))).slice(0, HASH_LENGTH);
}

function sanitize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

function trimDashes(text: string): string {
  return text.replace(/^-+/, '').replace(/-+$/, '');
}

/**
 * `<base>-<suffix>` as a DNS label of at most 63 characters. When that does not fit, or the input
 * had characters a label cannot hold, the result is `<base prefix>-<hash>-<suffix>` (or
 * `<prefix>-<hash>` when even the suffix is too long), the hash covering the full input.
 */
export function boundedName(base: string, suffix: string, max = MAX_NAME_LENGTH): string {
  const raw = suffix === '' ? base : `${base}-${suffix}`;
  const clean = sanitize(raw);
  if (clean === raw && clean.length <= max && trimDashes(clean) === clean) return clean;
  const hash = shortHash(`${base}\u0000${suffix}`);
  const cleanSuffix = trimDashes(sanitize(suffix));
  const room = max - cleanSuffix.length - hash.length - 2;
  if (cleanSuffix !== '' && room >= 1) {
    const head = trimDashes(sanitize(base).slice(0, room)) || 'x';
    return `${head}-${hash}-${cleanSuffix}`;
  }
  const head = trimDashes(clean.slice(0, max - hash.length - 1)) || 'x';
  return `${head}-${hash}`;
}

/** A DNS-1035 label (what a Service name must be): like boundedName, but starting with a letter. */
export function serviceName(base: string, suffix: string): string {
  const name = boundedName(base, suffix);
  return /^[a-z]/.test(name) ? name : boundedName(`vf-${base}`, suffix);
}

/** A label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
export function labelValue(value: string): string {
  if (value.length <= MAX_NAME_LENGTH && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value)) {
    return value;
  }
  return boundedName(value, '');
}

/** The pod name, Raft member id and DNS hostname of the fleet's member in `zone`. */
export function memberName(fleet: string, zone: string): string {
  return boundedName(fleet, zone);
}

export function memberClaimName(fleet: string, zone: string): string {
  return boundedName(memberName(fleet, zone), 'data');
}

export function sealingKeySecretName(fleet: string, zone: string): string {
  return boundedName(memberName(fleet, zone), 'sealing-key');
}

export function peerServiceName(fleet: string): string {
  return serviceName(fleet, 'peers');
}

export function clientServiceName(fleet: string): string {
  return serviceName(fleet, 'client');
}

export function manufacturerCaSecretName(fleet: string): string {
  return boundedName(fleet, 'manufacturer-ca');
}

export function operatorAdminKeySecretName(fleet: string): string {
  return boundedName(fleet, 'operator-admin-key');
}

/** The fleet's attestation signing key (one key, one purpose: not the admin key, not the CA). */
export function attestationKeySecretName(fleet: string): string {
  return boundedName(fleet, 'attestation-key');
}

/** The published validation bundle (and the attestation in progress), mounted by the members. */
export function attestationConfigMapName(fleet: string): string {
  return boundedName(fleet, 'attestation');
}

/** The HSM certificates the operator issued to the members, by member id (public). */
export function memberCertificatesName(fleet: string): string {
  return boundedName(fleet, 'member-certificates');
}

/** The KeyDirectory's ConfigMap of fleet attestation keys its witnesses countersign for. */
export function attestationSignersName(keyDirectory: string): string {
  return boundedName(keyDirectory, 'attestation-signers');
}

export function trustBundleName(fleet: string): string {
  return boundedName(fleet, 'trust');
}

export function serviceAccountName(fleet: string): string {
  return boundedName(fleet, 'vault');
}

export function disruptionBudgetName(fleet: string): string {
  return boundedName(fleet, 'members');
}

export function networkPolicyName(fleet: string): string {
  return boundedName(fleet, 'members');
}

/** The fleet's identity in HSM certificates and attestations: `<namespace>/<name>`. */
export function fleetId(namespace: string, fleet: string): string {
  return `${namespace}/${fleet}`;
}
