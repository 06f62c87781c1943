// The validation bundle a client fetches: the operator-signed envelope, the witness's
// countersignature, the directory's lookup proof that logs the envelope digest under
// `fleet/<namespace>/<name>` (exactly as GET /v1/lookup serves it) and, optionally, the previous
// envelope so a client can see what changed. Strict decoding with size limits; FORMAT.md.

import { DirectoryVerificationError } from '../directory/errors.ts';
import { type LookupResponseJson, parseLookupResponse } from '../directory/wire.ts';
import { canonicalJsonBytes, parseJsonBytes } from './canonical-json.ts';
import { type DsseEnvelope, decodeEnvelope, MAX_COUNTERSIGNATURE_PAYLOAD_BYTES } from './dsse.ts';
import { AttestationError } from './errors.ts';
import { MAX_STATEMENT_BYTES } from './statement.ts';
import { integer, object } from './strict.ts';

export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_LOOKUP_PROOF_BYTES = 128 * 1024;

/** The body of the directory's GET /v1/lookup?username=fleet/<ns>/<name>, verbatim. */
export type DirectoryLookupJson = LookupResponseJson;

export interface DirectoryInclusion {
  /** The epoch at which the envelope digest was looked up (must equal the signed head's). */
  readonly epoch: number;
  readonly lookup: DirectoryLookupJson;
}

export interface ValidationBundle {
  readonly envelope: DsseEnvelope;
  readonly countersignature: DsseEnvelope;
  /** Absent only while the operator is still logging; such a bundle never verifies. */
  readonly directoryInclusion?: DirectoryInclusion;
  /** The previous attestation's envelope, for the diff; its digest must chain. */
  readonly previous?: { readonly envelope: DsseEnvelope };
}

export function encodeBundle(bundle: ValidationBundle): Uint8Array {
  return canonicalJsonBytes(bundle);
}

function decodeInclusion(value: unknown): DirectoryInclusion {
  const f = 'directoryInclusion';
  const o = object(value, f, ['epoch', 'lookup']);
  try {
    // Shape and sizes as sdk/src/directory checks a served response; kept as served (JSON).
    parseLookupResponse(o.lookup, MAX_LOOKUP_PROOF_BYTES);
  } catch (e) {
    if (e instanceof DirectoryVerificationError) throw new AttestationError(`${f}.lookup`, e.message);
    throw e;
  }
  return {
    epoch: integer(o.epoch, `${f}.epoch`, 1, Number.MAX_SAFE_INTEGER),
    lookup: o.lookup as DirectoryLookupJson,
  };
}

/** Parses a bundle; throws AttestationError naming the field that is wrong or too large. */
export function decodeBundle(bytes: Uint8Array): ValidationBundle {
  const b = object(
    parseJsonBytes(bytes, MAX_BUNDLE_BYTES, 'bundle'),
    'bundle',
    ['envelope', 'countersignature'],
    ['directoryInclusion', 'previous'],
  );
  const bundle: {
    envelope: DsseEnvelope;
    countersignature: DsseEnvelope;
    directoryInclusion?: DirectoryInclusion;
    previous?: { envelope: DsseEnvelope };
  } = {
    envelope: decodeEnvelope(b.envelope, 'envelope', MAX_STATEMENT_BYTES),
    countersignature: decodeEnvelope(
      b.countersignature,
      'countersignature',
      MAX_COUNTERSIGNATURE_PAYLOAD_BYTES,
    ),
  };
  if (b.directoryInclusion !== undefined) bundle.directoryInclusion = decodeInclusion(b.directoryInclusion);
  if (b.previous !== undefined) {
    const p = object(b.previous, 'previous', ['envelope']);
    bundle.previous = { envelope: decodeEnvelope(p.envelope, 'previous.envelope', MAX_STATEMENT_BYTES) };
  }
  return bundle;
}
