// What a backup client checks before it talks to a fleet: the fleet's validation bundle verifies
// under the client's attestation trust (operator, witness, manufacturer CA and directory keys,
// sdk/src/attestation/FORMAT.md), it is for the fleet the client means, and it is not older than
// (nor a fork of) the bundle this client accepted last. What it yields is the only thing the
// client then trusts: the attested members' HSM identity keys (every escrow response must be signed
// by one of them) and the attested OPAQUE server key. Pure: bytes and a clock in, a decision out.
import { decodeBundle } from '../attestation/bundle.ts';
import { AttestationError } from '../attestation/errors.ts';
import { certificateFleetId, type FleetStatement } from '../attestation/statement.ts';
import type { AttestationTrustFile } from '../attestation/trust.ts';
import { type FleetVerification, verifyFleetBundleBytes } from '../attestation/verify.ts';

export type FleetRefusalCode =
  /** No bundle could be obtained (the fleet published none, or it could not be fetched). */
  | 'no-bundle'
  /** The bundle does not verify (signature, countersignature, freshness, chain, proof, ...). */
  | 'invalid-bundle'
  /** The bundle is older than, or a fork of, the one this client accepted last. */
  | 'rollback'
  /** The bundle verifies, but attests another fleet than the one asked for. */
  | 'wrong-fleet'
  /** A response came from a member that the accepted bundle does not list. */
  | 'member-not-in-bundle'
  /** The client's own record of the last accepted bundle is unreadable. */
  | 'bad-state';

/** The client refuses the fleet; `reasons` are the verifier's lines (FORMAT.md, "Verification"). */
export class FleetRefusedError extends Error {
  override name = 'FleetRefusedError';
  readonly code: FleetRefusalCode;
  readonly reasons: readonly string[];
  constructor(code: FleetRefusalCode, message: string, reasons: readonly string[] = []) {
    super(message);
    this.code = code;
    this.reasons = reasons;
  }
}

/** A fleet deployment the client verified and now trusts. */
export interface AcceptedFleet {
  /** `<namespace>/<name>`: the fleet id of the members' certificates and of the escrow protocol. */
  readonly fleetId: string;
  readonly serial: number;
  /** `sha256:<hex>` of the operator envelope. */
  readonly envelopeDigest: string;
  readonly directoryEpoch: number;
  readonly statement: FleetStatement;
  /** The bundle, byte for byte, to keep as the last accepted one. */
  readonly bundle: Uint8Array;
  /** Attested member id -> HSM identity public key (certificate chains verified). */
  readonly members: ReadonlyMap<string, Uint8Array>;
  readonly opaqueServerPublicKey: Uint8Array;
  /** The verifier's full result: what passed, notes, changes since the last accepted bundle. */
  readonly verification: FleetVerification;
}

export interface AcceptOptions {
  readonly trust: AttestationTrustFile;
  /** The fleet the caller means, `<namespace>/<name>`. */
  readonly fleetId: string;
  /** The bundle this client accepted last for this fleet, if any (rollback and fork detection). */
  readonly lastAccepted?: Uint8Array | undefined;
  /** Unix milliseconds. */
  readonly now: number;
}

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));

/** Verifies `bundle` for `o.fleetId`; throws FleetRefusedError naming why it is refused. */
export function acceptFleetBundle(bundle: Uint8Array, o: AcceptOptions): AcceptedFleet {
  let previous: ReturnType<typeof decodeBundle> | undefined;
  if (o.lastAccepted !== undefined) {
    try {
      previous = decodeBundle(o.lastAccepted);
    } catch (e) {
      if (!(e instanceof AttestationError)) throw e;
      throw new FleetRefusedError(
        'bad-state',
        `the last accepted bundle on record does not decode (${e.message}); it is what detects rollbacks, so it is not ignored`,
      );
    }
  }
  const r = verifyFleetBundleBytes(bundle, o.trust, {
    now: o.now,
    maxClockSkewMs: o.trust.maxClockSkewSeconds * 1000,
    ...(previous ? { previous } : {}),
  });
  const attested = r.statement ? certificateFleetId(r.statement.predicate.fleet) : undefined;
  // The statement is only present once the operator signature verified: a forged bundle cannot
  // choose this reason.
  if (attested !== undefined && attested !== o.fleetId) {
    throw new FleetRefusedError(
      'wrong-fleet',
      `the fleet's attestation is for fleet ${attested}, not ${o.fleetId}`,
      r.reasons,
    );
  }
  if (!r.valid || !r.statement || r.directoryEpoch === undefined) {
    const rollback = r.reasons.filter((x) => x.startsWith('rollback:'));
    if (rollback.length > 0) {
      throw new FleetRefusedError(
        'rollback',
        `the fleet's attestation is older than, or a fork of, the one accepted last: ${rollback.join('; ')}`,
        r.reasons,
      );
    }
    throw new FleetRefusedError(
      'invalid-bundle',
      `the fleet's attestation does not verify: ${r.reasons.join('; ')}`,
      r.reasons,
    );
  }
  const p = r.statement.predicate;
  return {
    fleetId: o.fleetId,
    serial: p.serial,
    envelopeDigest: r.envelopeDigest as string,
    directoryEpoch: r.directoryEpoch,
    statement: r.statement,
    bundle,
    members: new Map(p.members.map((m) => [m.id, fromHex(m.identityKey)])),
    opaqueServerPublicKey: fromHex(p.opaqueServerPublicKey),
    verification: r,
  };
}

/** One line for people: which deployment was accepted. */
export function describeAccepted(a: AcceptedFleet): string {
  return `fleet ${a.fleetId} attestation serial ${a.serial} (${a.envelopeDigest}), ${a.members.size} members, logged at directory epoch ${a.directoryEpoch}`;
}
