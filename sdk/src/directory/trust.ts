/**
 * What a client trusts about one directory: the publisher's Ed25519 key that signs epoch
 * heads, the VRF public key that derives labels, and optionally the namespace. The trust
 * file has the shape of a reader's GET /v1/info, so an operator can publish (and a user pin)
 * exactly that document after checking it out of band:
 *   {"namespace": "...", "configuration": "whatsapp_v1", "vrfPublicKey": hex, "signingPublicKey": hex}
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { vrfPublicKey } from '../vrf/ecvrf.ts';
import { MAX_NAMESPACE_BYTES } from './epoch-head.ts';

/** Enough to check signed epoch heads (and audits, which need nothing else). */
export interface HeadTrust {
  readonly signingPublicKey: Uint8Array;
  /** when set, every epoch head must be for this namespace */
  readonly namespace?: string | undefined;
}

export interface DirectoryTrust extends HeadTrust {
  readonly vrfPublicKey: Uint8Array;
}

export const MAX_TRUST_FILE_BYTES = 16 * 1024;

/** Thrown for keys or trust files a person gave wrongly (the CLI maps it to a usage error). */
export class TrustInputError extends Error {
  override readonly name = 'TrustInputError';
}

/** A 32-byte key as 64 hex characters (an optional 0x prefix and surrounding space allowed). */
export function parseKeyHex(raw: string, what: string): Uint8Array {
  const s = raw.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new TrustInputError(`${what} must be 64 hex characters (32 bytes)`);
  return hexToBytes(s.toLowerCase());
}

export function signingPublicKey(raw: string): Uint8Array {
  const key = parseKeyHex(raw, 'the signing key');
  try {
    ed25519.Point.fromBytes(key);
  } catch {
    throw new TrustInputError('the signing key is not an Ed25519 public key');
  }
  return key;
}

export function vrfKey(raw: string): Uint8Array {
  const key = parseKeyHex(raw, 'the VRF key');
  try {
    vrfPublicKey(key);
  } catch (e) {
    throw new TrustInputError(`the VRF key is not a valid ECVRF public key: ${(e as Error).message}`);
  }
  return key;
}

export function namespace(raw: string): string {
  const n = new TextEncoder().encode(raw).length;
  if (n === 0 || n > MAX_NAMESPACE_BYTES)
    throw new TrustInputError(`the namespace must be 1..${MAX_NAMESPACE_BYTES} bytes`);
  return raw;
}

/** Parses a trust file's text (see the module comment). */
export function parseTrustFile(text: string): DirectoryTrust {
  if (text.length > MAX_TRUST_FILE_BYTES)
    throw new TrustInputError(`trust file is larger than ${MAX_TRUST_FILE_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new TrustInputError('trust file is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new TrustInputError('trust file is not a JSON object');
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).find(
    (k) => !['namespace', 'configuration', 'vrfPublicKey', 'signingPublicKey'].includes(k),
  );
  if (extra !== undefined)
    throw new TrustInputError(`trust file: unexpected field ${JSON.stringify(extra.slice(0, 64))}`);
  if (o.configuration !== undefined && o.configuration !== 'whatsapp_v1') {
    throw new TrustInputError(
      'trust file: configuration must be "whatsapp_v1" (the only one keyfleet verifies)',
    );
  }
  if (typeof o.signingPublicKey !== 'string' || typeof o.vrfPublicKey !== 'string') {
    throw new TrustInputError('trust file: signingPublicKey and vrfPublicKey (hex strings) are required');
  }
  if (o.namespace !== undefined && typeof o.namespace !== 'string')
    throw new TrustInputError('trust file: namespace must be a string');
  return {
    signingPublicKey: signingPublicKey(o.signingPublicKey),
    vrfPublicKey: vrfKey(o.vrfPublicKey),
    namespace: o.namespace === undefined ? undefined : namespace(o.namespace),
  };
}
