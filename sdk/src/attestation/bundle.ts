// The validation bundle a client fetches: the operator-signed envelope, the witness's
// countersignature, the directory's lookup proof that logs the envelope digest under
// `fleet/<namespace>/<name>` (exactly as GET /v1/lookup serves it) and, optionally, the previous
// envelope so a client can see what changed. Strict decoding with size limits; FORMAT.md.
import { canonicalJsonBytes, parseJsonBytes } from './canonical-json.ts';
import { type DsseEnvelope, decodeEnvelope, MAX_COUNTERSIGNATURE_PAYLOAD_BYTES } from './dsse.ts';
import { decodeEpochHeadJson, type EpochHeadJson } from './epoch-head.ts';
import { MAX_STATEMENT_BYTES } from './statement.ts';
import { base64urlBytes, integer, object } from './strict.ts';

export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_LOOKUP_PROOF_BYTES = 128 * 1024;

/** The body of the directory's GET /v1/lookup?username=fleet/<ns>/<name>, verbatim. */
export interface DirectoryLookupJson {
  readonly epoch: EpochHeadJson;
  readonly version: number;
  /** base64url of the akd-encoded lookup proof */
  readonly proof: string;
}

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
  const l = object(o.lookup, `${f}.lookup`, ['epoch', 'version', 'proof']);
  base64urlBytes(l.proof, `${f}.lookup.proof`, MAX_LOOKUP_PROOF_BYTES);
  return {
    epoch: integer(o.epoch, `${f}.epoch`, 1, Number.MAX_SAFE_INTEGER),
    lookup: {
      epoch: decodeEpochHeadJson(l.epoch, `${f}.lookup.epoch`),
      version: integer(l.version, `${f}.lookup.version`, 1, Number.MAX_SAFE_INTEGER),
      proof: l.proof as string,
    },
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
