// POST /v1/attestations/countersign: the witness's side of a fleet-deployment attestation
// (sdk/src/attestation/FORMAT.md, "Call sequence", step 3). The operator sends its DSSE envelope;
// the witness countersigns it only when
//   - the envelope verifies under the attestation key the KeyDirectory's ConfigMap
//     `<kd>-attestation-signers` lists for exactly the fleet the statement names (data key
//     `<fleet-namespace>.<fleet-name>`, mounted as a directory of files), so one fleet's operator key
//     cannot attest another fleet, and
//   - its serial is above the last one this witness countersigned for that fleet, or it is the very
//     same envelope again (a retry); the last serial and digest are kept in the witness's SQLite
//     state before the countersignature leaves, so neither a restart nor a retry can make the
//     witness vouch for a rollback or a fork.
// The request's media type is DSSE's own (`application/vnd.dsse.envelope.v1+json`): the app's
// generic JSON parser (16 KiB) leaves it alone, and this route reads it raw with its own limit.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { witnessCountersign } from '@keyfleet/sdk/attestation/attest';
import { parseJsonBytes } from '@keyfleet/sdk/attestation/canonical-json';
import {
  decodeEnvelope,
  envelopeDigest,
  envelopePayload,
  IN_TOTO_PAYLOAD_TYPE,
  verifyEnvelope,
} from '@keyfleet/sdk/attestation/dsse';
import type { Signer } from '@keyfleet/sdk/attestation/ed25519';
import { AttestationError } from '@keyfleet/sdk/attestation/errors';
import { decodeStatement, MAX_STATEMENT_BYTES } from '@keyfleet/sdk/attestation/statement';
import express, { Router } from 'express';
import { HttpError } from '../api/http.ts';
import type { WitnessState } from './state.ts';

export const COUNTERSIGN_PATH = '/v1/attestations/countersign';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/** A statement of MAX_STATEMENT_BYTES in base64, plus the envelope around it. */
export const MAX_ENVELOPE_BODY_BYTES = Math.ceil(MAX_STATEMENT_BYTES / 3) * 4 + 4096;
/** A signers directory is one ConfigMap: bounded in files and in bytes per file. */
const MAX_SIGNER_FILES = 1024;
const MAX_SIGNER_FILE_BYTES = 256;
const SIGNER_NAME = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\.([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** The signers file name of a fleet: `<namespace>.<name>` (a namespace has no dots). */
export function signerFileName(fleet: { readonly namespace: string; readonly name: string }): string {
  return `${fleet.namespace}.${fleet.name}`;
}

/**
 * The attestation public key of every fleet in `dir`, by signerFileName(). Read afresh on every
 * call: the directory is a mounted ConfigMap that changes under the process, and countersigning
 * is rare. Files that are not `<ns>.<name>` holding 64 hex characters are skipped (the kubelet's
 * `..data` links among them); a missing directory means no fleet may attest yet.
 */
export function readAttestationSigners(dir: string): Map<string, Uint8Array> {
  const signers = new Map<string, Uint8Array>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return signers;
    throw e;
  }
  for (const name of names.slice(0, MAX_SIGNER_FILES)) {
    if (!SIGNER_NAME.test(name)) continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile() || statSync(path).size > MAX_SIGNER_FILE_BYTES) continue;
      const text = readFileSync(path, 'utf8').trim();
      if (/^[0-9a-f]{64}$/.test(text)) signers.set(name, new Uint8Array(Buffer.from(text, 'hex')));
    } catch {
      // Replaced between readdir and read (a ConfigMap update): the next request sees the new one.
    }
  }
  return signers;
}

export interface AttestationCountersignDeps {
  /** The directory of the mounted signers ConfigMap; undefined when the witness was not given one. */
  readonly signersDir: string | undefined;
  readonly state: WitnessState;
  readonly witness: Signer;
  readonly now: () => number;
}

/** The countersignature of `body` (an envelope's JSON bytes), or an HttpError saying why not. */
export function countersignAttestation(d: AttestationCountersignDeps, body: Uint8Array) {
  if (d.signersDir === undefined) {
    throw new HttpError(503, 'not_configured', 'this witness has no attestation signers directory');
  }
  const envelope = decodeEnvelope(
    parseJsonBytes(body, MAX_ENVELOPE_BODY_BYTES, 'envelope'),
    'envelope',
    MAX_STATEMENT_BYTES,
  );
  const signers = readAttestationSigners(d.signersDir);
  // Verify before parsing the payload (DSSE): against every known fleet key first...
  let verified: ReturnType<typeof verifyEnvelope>;
  try {
    verified = verifyEnvelope(envelope, IN_TOTO_PAYLOAD_TYPE, [...signers.values()], 'envelope', 'operator');
  } catch (e) {
    if (!(e instanceof AttestationError) || e.field !== 'envelope') throw e;
    throw new HttpError(403, 'untrusted_signer', e.message);
  }
  if (envelope.signatures[0]?.keyid !== verified.keyid) {
    throw new AttestationError('envelope.signatures', 'the first signature must be the operator key');
  }
  const { predicate } = decodeStatement(envelopePayload(envelope));
  const fleetKey = signers.get(signerFileName(predicate.fleet));
  // ...then require that the key is the one listed for the fleet the statement names.
  if (fleetKey === undefined || !Buffer.from(fleetKey).equals(verified.publicKey)) {
    throw new HttpError(
      403,
      'wrong_signer',
      `the envelope is not signed by the attestation key of fleet ${predicate.fleet.namespace}/${predicate.fleet.name}`,
    );
  }
  const { namespace, name, uid } = predicate.fleet;
  const fleet = `${namespace}/${name}/${uid}`;
  const record = d.state.recordAttestation(fleet, predicate.serial, envelopeDigest(envelope));
  if (record.kind === 'rollback') {
    throw new HttpError(
      409,
      'serial_rollback',
      `serial ${predicate.serial} is below serial ${record.lastSerial} already countersigned for ${namespace}/${name}`,
    );
  }
  if (record.kind === 'fork') {
    throw new HttpError(
      409,
      'serial_fork',
      `a different envelope with serial ${predicate.serial} was already countersigned for ${namespace}/${name}`,
    );
  }
  return witnessCountersign(envelope, [fleetKey], d.witness, d.now());
}

export function attestationCountersignRouter(d: AttestationCountersignDeps): Router {
  const r = Router();
  r.post(
    COUNTERSIGN_PATH,
    (req, _res, next) => {
      if (!req.is(DSSE_MEDIA_TYPE)) {
        next(new HttpError(415, 'unsupported_media_type', `send the envelope as ${DSSE_MEDIA_TYPE}`));
        return;
      }
      next();
    },
    express.raw({ type: DSSE_MEDIA_TYPE, limit: MAX_ENVELOPE_BODY_BYTES }),
    (req, res) => {
      const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array();
      try {
        res.json(countersignAttestation(d, body));
      } catch (e) {
        if (e instanceof AttestationError) throw new HttpError(400, 'invalid_envelope', e.message);
        throw e;
      }
    },
  );
  return r;
}
