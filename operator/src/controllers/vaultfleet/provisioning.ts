// The fleet's keys and each member's HSM identity.
//
// Keys: the manufacturer CA and the operator admin key are generated once per fleet, as immutable
// Secrets created only when absent (secrets.ts). A Secret that exists is read, never replaced: a
// new CA would orphan every certificate issued, a new admin key would lock the operator out of its
// members. The trust bundle (their public halves) is derived from what the Secrets hold.
//
// Identity: a member's HSM makes its own key pair; the operator has the CA certify it once the
// member's admin port answers and its status reports no certified key yet (admin identity request
// -> CA issue, checking the request asks for exactly this fleet, member and zone -> install).

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { fleetName, fleetNamespace } from '../../specs/labels.ts';
import { fleetId } from '../../specs/names.ts';
import {
  manufacturerCaSecret,
  operatorAdminKeySecret,
  type RandomBytes,
  secretKeyBytes,
} from '../../specs/secrets.ts';
import { trustBundle } from '../../specs/trust-bundle.ts';
import { DataKey, HttpPath } from '../../specs/vault-contract.ts';
import type { AdminCaller } from './member-admin.ts';

/** How long an HSM identity certificate is valid; re-certification is not automated yet. */
export const CERTIFICATE_VALIDITY_SECONDS = 365 * 24 * 3600;
/** Backdating, so a member whose clock is a little behind accepts its certificate at once. */
const CLOCK_SKEW_SECONDS = 300;

export interface FleetKeys {
  readonly manufacturerCaSeed: Uint8Array;
  readonly operatorAdminSeed: Uint8Array;
}

/** Reads a key Secret's seed and checks the public half stored beside it matches. */
export function readKeySecret(s: V1Secret, seedKey: string, publicKey: string): Uint8Array {
  const seed = secretKeyBytes(s, seedKey);
  const stored = secretKeyBytes(s, publicKey);
  if (!equalBytes(ed25519.getPublicKey(seed), stored)) {
    throw new Error(
      `Secret ${s.metadata?.namespace}/${s.metadata?.name}: ${publicKey} is not the public key of ${seedKey}; restore the Secret from backup (the operator never replaces it)`,
    );
  }
  return seed;
}

export interface KeySecretStore {
  /** The Secret as cached or read, or undefined when it does not exist. */
  get(name: string): Promise<V1Secret | undefined>;
  /** Creates it; returns the stored Secret (the existing one if another writer won the race). */
  createIfAbsent(secret: V1Secret): Promise<V1Secret>;
}

/** The fleet's CA and admin key, creating either Secret only if it does not exist yet. */
export async function ensureFleetKeys(
  fleet: VaultFleet,
  store: KeySecretStore,
  randomBytes: RandomBytes,
): Promise<{ keys: FleetKeys; created: string[] }> {
  const created: string[] = [];
  const load = async (build: () => V1Secret): Promise<V1Secret> => {
    const wanted = build();
    const name = wanted.metadata?.name as string;
    const existing = await store.get(name);
    if (existing !== undefined) return existing;
    created.push(name);
    return store.createIfAbsent(wanted);
  };
  const ca = await load(() => manufacturerCaSecret(fleet, randomBytes));
  const admin = await load(() => operatorAdminKeySecret(fleet, randomBytes));
  return {
    created,
    keys: {
      manufacturerCaSeed: readKeySecret(ca, DataKey.manufacturerCaSeed, DataKey.manufacturerCaPublicKey),
      operatorAdminSeed: readKeySecret(admin, DataKey.operatorAdminSeed, DataKey.operatorAdminPublicKey),
    },
  };
}

export function fleetTrustBundle(fleet: VaultFleet, keys: FleetKeys): V1ConfigMap {
  return trustBundle(fleet, {
    manufacturerCaPublicKey: ed25519.getPublicKey(keys.manufacturerCaSeed),
    operatorAdminPublicKey: ed25519.getPublicKey(keys.operatorAdminSeed),
  });
}

/**
 * Certifies the HSM identity of the fleet's member `memberId` in `zone` through `admin` (a caller
 * to that member). Returns the certificate installed. Throws when the member's request asks for
 * another subject: a member claiming to be someone else gets nothing signed.
 */
export async function provisionMemberIdentity(
  fleet: VaultFleet,
  member: { readonly zone: string; readonly memberId: string },
  admin: AdminCaller,
  keys: FleetKeys,
  now: Date,
): Promise<Uint8Array> {
  const { zone, memberId } = member;
  const { request } = await admin.call<{ request: string }>('GET', HttpPath.identityRequest);
  if (typeof request !== 'string' || !/^[A-Za-z0-9_-]{1,4096}$/.test(request)) {
    throw new Error(`member ${zone} answered the identity request without a base64url request`);
  }
  const seconds = Math.floor(now.getTime() / 1000);
  const certificate = CertificateAuthority.fromSeed(keys.manufacturerCaSeed).issue(
    new Uint8Array(Buffer.from(request, 'base64url')),
    {
      expect: {
        fleet: fleetId(fleetNamespace(fleet), fleetName(fleet)),
        member: memberId,
        zone,
      },
      notBefore: seconds - CLOCK_SKEW_SECONDS,
      notAfter: seconds + CERTIFICATE_VALIDITY_SECONDS,
    },
  );
  await admin.call('POST', HttpPath.identityCertificate, {
    certificate: Buffer.from(certificate).toString('base64url'),
  });
  return certificate;
}
