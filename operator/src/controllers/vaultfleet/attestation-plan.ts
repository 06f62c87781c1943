// The attestation's durable record and the decision of what to do next with it. Pure.
//
// The record lives in the ConfigMap `<fleet>-attestation`:
//   bundle.json   the last published validation bundle (FORMAT.md), what members serve to clients;
//   pending.json  the attestation in progress: {envelope, countersignature?}; empty when none.
// The steps of one attestation (FORMAT.md "Call sequence") and what makes them crash-safe:
//   sign         build the statement, sign it, and store it as pending.json BEFORE it is sent
//                anywhere (a compare-and-swap write). A crash before the write loses an envelope
//                nobody saw; after it, every retry sends that same envelope. So one serial never
//                has two envelopes, and no serial is skipped (the next is always last + 1).
//   countersign  send the pending envelope to a witness (which refuses a lower serial or another
//                envelope for the same serial); store the countersignature in pending.json.
//   log          POST the digest to the directory (requestId `attestation-<uid>-<serial>`, so a
//                retry is a duplicate), wait for an epoch that includes it, fetch the lookup proof,
//                and replace pending.json by the new bundle.json in one write.
// Nothing is decided from memory: each pass reads the record and takes the step it calls for.

import { decodeBundle, encodeBundle, type ValidationBundle } from '@keyfleet/sdk/attestation/bundle';
import { parseJsonBytes } from '@keyfleet/sdk/attestation/canonical-json';
import {
  type DsseEnvelope,
  decodeEnvelope,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  MAX_COUNTERSIGNATURE_PAYLOAD_BYTES,
} from '@keyfleet/sdk/attestation/dsse';
import type { FleetStatementInput } from '@keyfleet/sdk/attestation/statement';
import {
  decodeStatement,
  type FleetStatement,
  MAX_STATEMENT_BYTES,
} from '@keyfleet/sdk/attestation/statement';
import { object } from '@keyfleet/sdk/attestation/strict';
import { equalBytes } from '@noble/curves/utils.js';
import { ATTESTATION_BUNDLE_KEY } from '../../specs/member-pod.ts';
import type { AttestedDeployment, NotAttestable } from './attestation-inputs.ts';

export const AttestationData = { bundle: ATTESTATION_BUNDLE_KEY, pending: 'pending.json' } as const;

export interface PublishedAttestation {
  readonly bundle: ValidationBundle;
  readonly statement: FleetStatement;
  readonly digest: Uint8Array;
}

export interface PendingAttestation {
  readonly envelope: DsseEnvelope;
  readonly statement: FleetStatement;
  readonly countersignature?: DsseEnvelope;
}

export interface AttestationRecord {
  readonly published?: PublishedAttestation;
  readonly pending?: PendingAttestation;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** The operator's own record, read back; throws AttestationError when it is damaged. */
export function readAttestationRecord(data: Readonly<Record<string, string>> | undefined): AttestationRecord {
  const record: { published?: PublishedAttestation; pending?: PendingAttestation } = {};
  const bundleText = data?.[AttestationData.bundle];
  if (bundleText !== undefined) {
    const bundle = decodeBundle(utf8(bundleText));
    record.published = {
      bundle,
      statement: decodeStatement(envelopePayload(bundle.envelope)),
      digest: envelopeDigest(bundle.envelope),
    };
  }
  const pendingText = data?.[AttestationData.pending];
  if (pendingText !== undefined && pendingText !== '') {
    const p = object(
      parseJsonBytes(utf8(pendingText), 1024 * 1024, 'pending'),
      'pending',
      ['envelope'],
      ['countersignature'],
    );
    const envelope = decodeEnvelope(p.envelope, 'pending.envelope', MAX_STATEMENT_BYTES);
    record.pending = {
      envelope,
      statement: decodeStatement(envelopePayload(envelope)),
      ...(p.countersignature === undefined
        ? {}
        : {
            countersignature: decodeEnvelope(
              p.countersignature,
              'pending.countersignature',
              MAX_COUNTERSIGNATURE_PAYLOAD_BYTES,
            ),
          }),
    };
  }
  return record;
}

/** The ConfigMap data of a record (what the next pass reads back). */
export function attestationRecordData(
  published: ValidationBundle | undefined,
  pending: { envelope: DsseEnvelope; countersignature?: DsseEnvelope } | undefined,
): Record<string, string> {
  const data: Record<string, string> = {};
  if (published !== undefined)
    data[AttestationData.bundle] = Buffer.from(encodeBundle(published)).toString('utf8');
  // An empty pending.json means none: always sent, so the one field manager of the record keeps
  // owning it and an apply replaces it, whatever the server's merge does with absent keys.
  data[AttestationData.pending] = pending === undefined ? '' : JSON.stringify(pending);
  return data;
}

// ---- validity -----------------------------------------------------------------------------------

const HOUR_MS = 3_600_000;
export const MIN_VALIDITY_MS = HOUR_MS;
export const MAX_VALIDITY_MS = 8760 * HOUR_MS;

/** A Go duration of hours, minutes and seconds ("720h", "1h30m"), in milliseconds; undefined if not one. */
export function parseValidity(text: string): number | undefined {
  const m = /^(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,11})s)?$/.exec(text);
  if (m === null || text === '') return undefined;
  const ms = (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000;
  return ms >= MIN_VALIDITY_MS && ms <= MAX_VALIDITY_MS ? ms : undefined;
}

/** A new attestation is made once less than this share of its validity is left. */
export const RENEW_WHEN_LEFT = 0.25;

// ---- the decision -------------------------------------------------------------------------------

/** Why a new attestation is needed: an Event reason and what changed. */
export interface AttestationChange {
  readonly reason: string;
  readonly message: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** What differs between the last attested deployment and this one, or null when nothing does. */
export function attestationChange(
  previous: FleetStatement | undefined,
  current: AttestedDeployment,
  nowMs: number,
  validityMs: number,
): AttestationChange | null {
  if (previous === undefined)
    return { reason: 'FirstAttestation', message: 'the fleet has no attestation yet' };
  const p = previous.predicate;
  const ids = (ms: readonly { id: string }[]) =>
    ms
      .map((m) => m.id)
      .sort()
      .join(',');
  if (ids(p.members) !== ids(current.members) || p.zones.join(',') !== current.zones.join(',')) {
    return {
      reason: 'MembersChanged',
      message: `members ${ids(p.members)} -> ${ids(current.members)}`,
    };
  }
  const rekeyed = current.members.filter(
    (m) => p.members.find((x) => x.id === m.id)?.hsmCertificate !== b64url(m.certificate),
  );
  if (rekeyed.length > 0) {
    return {
      reason: 'HsmKeysChanged',
      message: `new HSM certificates for ${rekeyed.map((m) => m.id).join(', ')}`,
    };
  }
  if (p.image.ref !== current.image.ref || p.image.digest !== current.image.digest) {
    return {
      reason: 'ImageChanged',
      message: `image ${p.image.ref} (${p.image.digest}) -> ${current.image.ref} (${current.image.digest})`,
    };
  }
  if (p.guessLimit !== current.guessLimit) {
    return { reason: 'GuessLimitChanged', message: `guess limit ${p.guessLimit} -> ${current.guessLimit}` };
  }
  if (p.opaqueServerPublicKey !== hex(current.opaqueServerPublicKey)) {
    return { reason: 'OpaqueServerKeyChanged', message: 'the OPAQUE server public key changed' };
  }
  if (p.manufacturerCaPublicKey !== hex(current.manufacturerCaPublicKey)) {
    return { reason: 'ManufacturerCaChanged', message: 'the manufacturer CA key changed' };
  }
  if (p.directory.namespace !== current.directory.namespace || p.directory.name !== current.directory.name) {
    return {
      reason: 'DirectoryChanged',
      message: `directory ${p.directory.namespace}/${p.directory.name} -> ${current.directory.namespace}/${current.directory.name}`,
    };
  }
  const expiresAt = Date.parse(p.expiresAt);
  if (nowMs >= expiresAt - validityMs * RENEW_WHEN_LEFT) {
    return { reason: 'Renewal', message: `the attestation expires at ${p.expiresAt}` };
  }
  return null;
}

export interface FleetFacts {
  readonly fleet: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly generation: number;
  readonly nowMs: number;
  readonly validityMs: number;
  /** status.attestation as stored: a second memory of the last serial and digest. */
  readonly lastKnown?: { readonly serial?: number; readonly digest?: string };
}

export type AttestationStep =
  | { readonly kind: 'countersign'; readonly pending: PendingAttestation }
  | { readonly kind: 'log'; readonly pending: PendingAttestation & { countersignature: DsseEnvelope } }
  | { readonly kind: 'sign'; readonly change: AttestationChange; readonly input: FleetStatementInput }
  | { readonly kind: 'wait'; readonly why: NotAttestable }
  | { readonly kind: 'none' };

function digestBytes(text: string | undefined): Uint8Array | undefined {
  const m = /^sha256:([0-9a-f]{64})$/.exec(text ?? '');
  return m ? new Uint8Array(Buffer.from(m[1] as string, 'hex')) : undefined;
}

/** The next step for the record, given what the fleet is now (or why it cannot be attested). */
export function nextAttestationStep(
  record: AttestationRecord,
  deployment: AttestedDeployment | NotAttestable,
  facts: FleetFacts,
): AttestationStep {
  const published = record.published;
  const pending = record.pending;
  let abandonedSerial = 0;
  // An attestation in progress is finished first, whatever changed since: it may already be
  // countersigned or logged, and the next one chains to it. Unless it expired before it could be
  // published (a witness or directory down for its whole validity): no client could accept it
  // then, and the next attestation takes the serial after it (never its serial again: a witness
  // may have countersigned it), chaining to the last published one; clients see a gap, no fork.
  if (
    pending !== undefined &&
    pending.statement.predicate.serial > (published?.statement.predicate.serial ?? 0)
  ) {
    if (Date.parse(pending.statement.predicate.expiresAt) > facts.nowMs) {
      const countersignature = pending.countersignature;
      return countersignature === undefined
        ? { kind: 'countersign', pending }
        : { kind: 'log', pending: { ...pending, countersignature } };
    }
    abandonedSerial = pending.statement.predicate.serial;
  }
  if ('reason' in deployment) return { kind: 'wait', why: deployment };
  const change: AttestationChange | null =
    abandonedSerial > 0
      ? {
          reason: 'PendingExpired',
          message: `attestation serial ${abandonedSerial} expired before it was published`,
        }
      : attestationChange(published?.statement, deployment, facts.nowMs, facts.validityMs);
  if (change === null) return { kind: 'none' };
  // The serial and the chain continue from the record, or from the status if the record was lost.
  const knownSerial = facts.lastKnown?.serial ?? 0;
  const recordSerial = published?.statement.predicate.serial ?? 0;
  const previousDigest =
    recordSerial >= knownSerial
      ? (published?.digest ?? null)
      : (digestBytes(facts.lastKnown?.digest) ?? null);
  const createdAt = Math.floor(facts.nowMs / 1000) * 1000;
  return {
    kind: 'sign',
    change,
    input: {
      fleet: facts.fleet,
      generation: facts.generation,
      serial: Math.max(knownSerial, recordSerial, abandonedSerial) + 1,
      zones: deployment.zones,
      guessLimit: deployment.guessLimit,
      members: deployment.members,
      manufacturerCaPublicKey: deployment.manufacturerCaPublicKey,
      opaqueServerPublicKey: deployment.opaqueServerPublicKey,
      image: deployment.image,
      createdAt,
      expiresAt: createdAt + facts.validityMs,
      previousAttestationDigest: previousDigest,
      directory: deployment.directory,
    },
  };
}

/** The previous envelope to bundle with `pending` for the diff: the published one it chains to. */
export function previousEnvelopeFor(
  pending: PendingAttestation,
  published: PublishedAttestation | undefined,
): DsseEnvelope | undefined {
  const named = digestBytes(pending.statement.predicate.previousAttestationDigest ?? undefined);
  return published !== undefined && named !== undefined && equalBytes(named, published.digest)
    ? published.bundle.envelope
    : undefined;
}

/** status.attestation of a published attestation. */
export function attestationStatus(published: PublishedAttestation, configMap: string) {
  return {
    serial: published.statement.predicate.serial,
    digest: formatDigest(published.digest),
    ...(published.bundle.directoryInclusion
      ? { directoryEpoch: published.bundle.directoryInclusion.epoch }
      : {}),
    configMap,
    expiresAt: published.statement.predicate.expiresAt,
  };
}
