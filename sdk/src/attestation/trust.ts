// The trust file of `keyfleet verify-fleet`: which operator, witness, manufacturer CA and
// directory keys a client believes. A person writes it once, from keys obtained out of band.
import { parseJsonBytes } from './canonical-json.ts';
import { AttestationError } from './errors.ts';
import { array, hexBytes, integer, object } from './strict.ts';
import type { AttestationTrust } from './verify.ts';

export const MAX_TRUST_FILE_BYTES = 64 * 1024;
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300;

export interface AttestationTrustFile extends AttestationTrust {
  readonly maxClockSkewSeconds: number;
}

const keys = (value: unknown, field: string) =>
  array(value, field, 1, 16).map((k, i) => hexBytes(k, `${field}[${i}]`));

export function parseAttestationTrust(bytes: Uint8Array): AttestationTrustFile {
  const t = object(
    parseJsonBytes(bytes, MAX_TRUST_FILE_BYTES, 'trust file'),
    'trust file',
    ['operatorKeys', 'witnessKeys', 'manufacturerCaKeys', 'directory'],
    ['maxClockSkewSeconds'],
  );
  const d = object(t.directory, 'trust file.directory', ['vrfPublicKey', 'signingKey']);
  return {
    operatorKeys: keys(t.operatorKeys, 'trust file.operatorKeys'),
    witnessKeys: keys(t.witnessKeys, 'trust file.witnessKeys'),
    manufacturerCaKeys: keys(t.manufacturerCaKeys, 'trust file.manufacturerCaKeys'),
    directory: {
      vrfPublicKey: hexBytes(d.vrfPublicKey, 'trust file.directory.vrfPublicKey'),
      signingKey: hexBytes(d.signingKey, 'trust file.directory.signingKey'),
    },
    maxClockSkewSeconds:
      t.maxClockSkewSeconds === undefined
        ? DEFAULT_MAX_CLOCK_SKEW_SECONDS
        : integer(t.maxClockSkewSeconds, 'trust file.maxClockSkewSeconds', 0, 86_400),
  };
}

export function formatAttestationTrust(
  trust: AttestationTrust,
  maxClockSkewSeconds = DEFAULT_MAX_CLOCK_SKEW_SECONDS,
): string {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  if (trust.operatorKeys.length === 0) throw new AttestationError('operatorKeys', 'at least one key');
  return `${JSON.stringify(
    {
      operatorKeys: trust.operatorKeys.map(hex),
      witnessKeys: trust.witnessKeys.map(hex),
      manufacturerCaKeys: trust.manufacturerCaKeys.map(hex),
      directory: {
        vrfPublicKey: hex(trust.directory.vrfPublicKey),
        signingKey: hex(trust.directory.signingKey),
      },
      maxClockSkewSeconds,
    },
    null,
    2,
  )}\n`;
}
