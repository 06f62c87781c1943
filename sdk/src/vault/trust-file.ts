// A fleet trust file: the fleet id, the manufacturer CA key, the members' certificates and the
// fleet's URL. `keyfleet backup` reads only its fleet id and URL when it verifies the fleet's signed
// deployment attestation (attested-client.ts), which is what decides the members; the certificates
// are used only with --insecure-skip-attestation (every chain is still verified here, a member whose
// certificate does not verify is not trusted).
import { readFileSync } from 'node:fs';
import { trustedMembersFromCertificates } from '../hsm/certificate.ts';

export interface FleetTrust {
  readonly fleetId: string;
  /** Hex Ed25519 public key of the manufacturer CA. */
  readonly manufacturerCa: string;
  /** base64url member certificates. */
  readonly certificates: readonly string[];
  /** Where to reach the fleet's client API. */
  readonly url?: string;
}

const MAX_TRUST_FILE_BYTES = 64 * 1024;

export function parseFleetTrust(text: string): FleetTrust {
  const value = JSON.parse(text) as Partial<FleetTrust>;
  if (typeof value.fleetId !== 'string') throw new Error('trust file: fleetId must be a string');
  if (typeof value.manufacturerCa !== 'string' || !/^[0-9a-f]{64}$/.test(value.manufacturerCa)) {
    throw new Error('trust file: manufacturerCa must be 64 hex characters');
  }
  if (!Array.isArray(value.certificates) || !value.certificates.every((c) => typeof c === 'string')) {
    throw new Error('trust file: certificates must be a list of base64url strings');
  }
  if (value.url !== undefined && (typeof value.url !== 'string' || !URL.canParse(value.url))) {
    throw new Error('trust file: url must be a URL');
  }
  return value as FleetTrust;
}

export function readFleetTrust(file: string): FleetTrust {
  const bytes = readFileSync(file);
  if (bytes.length > MAX_TRUST_FILE_BYTES)
    throw new Error(`${file} is larger than ${MAX_TRUST_FILE_BYTES} bytes`);
  return parseFleetTrust(bytes.toString('utf8'));
}

/** Member id -> identity key, for every certificate that verifies for this fleet now. */
export function trustedMembers(
  trust: FleetTrust,
  nowSeconds = Math.floor(Date.now() / 1000),
): Map<string, Uint8Array> {
  return trustedMembersFromCertificates(
    trust.certificates.map((c) => new Uint8Array(Buffer.from(c, 'base64url'))),
    {
      fleet: trust.fleetId,
      trustAnchors: [new Uint8Array(Buffer.from(trust.manufacturerCa, 'hex'))],
      now: nowSeconds,
    },
  );
}
