// The steps the operator and the directory witness take to publish an attestation, in order
// (FORMAT.md, "Call sequence"). Pure: each returns what the caller then sends or stores.

import type { DirectoryLookupJson, ValidationBundle } from './bundle.ts';
import {
  countersign,
  type DsseEnvelope,
  envelopeDigest,
  IN_TOTO_PAYLOAD_TYPE,
  signEnvelope,
  verifyEnvelope,
} from './dsse.ts';
import type { Signer } from './ed25519.ts';
import { decodeStatement, encodeStatement, type FleetStatement } from './statement.ts';

/** Operator, step 2: sign the statement built by buildFleetStatement(). */
export function signFleetStatement(statement: FleetStatement, operator: Signer): DsseEnvelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, encodeStatement(statement), operator);
}

/**
 * Witness: countersign only an envelope that a trusted operator signed and whose statement
 * decodes; throws AttestationError otherwise.
 */
export function witnessCountersign(
  envelope: DsseEnvelope,
  operatorKeys: readonly Uint8Array[],
  witness: Signer,
  nowMs: number,
): DsseEnvelope {
  verifyEnvelope(envelope, IN_TOTO_PAYLOAD_TYPE, operatorKeys, 'envelope', 'operator');
  decodeStatement(Buffer.from(envelope.payload, 'base64'));
  return countersign(envelope, witness, Math.floor(nowMs / 1000) * 1000);
}

/** Operator, step 4: the body of the directory's POST /v1/changes that logs the envelope digest. */
export function directoryChange(
  statement: FleetStatement,
  envelope: DsseEnvelope,
): { username: string; value: string; requestId: string } {
  const digest = envelopeDigest(envelope);
  return {
    username: statement.predicate.directory.label,
    value: Buffer.from(digest).toString('base64url'),
    // Idempotent per attestation: a retried POST after a crash is a duplicate, not a new version.
    requestId: `attestation-${statement.predicate.fleet.uid}-${statement.predicate.serial}`,
  };
}

/** Operator, step 6: the bundle published in the ConfigMap and over HTTP. */
export function bundleFor(
  envelope: DsseEnvelope,
  countersignature: DsseEnvelope,
  lookup: DirectoryLookupJson | undefined,
  previousEnvelope?: DsseEnvelope,
): ValidationBundle {
  return {
    envelope,
    countersignature,
    ...(lookup ? { directoryInclusion: { epoch: lookup.epoch.epoch, lookup } } : {}),
    ...(previousEnvelope ? { previous: { envelope: previousEnvelope } } : {}),
  };
}
