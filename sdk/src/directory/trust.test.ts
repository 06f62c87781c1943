import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { vrfPublicKeyFromSecret } from '../vrf/ecvrf.ts';
import { parseKeyHex, parseTrustFile, TrustInputError } from './trust.ts';

const signing = bytesToHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
const vrf = bytesToHex(vrfPublicKeyFromSecret(ed25519.utils.randomSecretKey()));

describe('trust files', () => {
  it('reads the shape of GET /v1/info', () => {
    const trust = parseTrustFile(
      JSON.stringify({
        namespace: 'prod',
        configuration: 'whatsapp_v1',
        vrfPublicKey: vrf,
        signingPublicKey: signing,
      }),
    );
    expect(bytesToHex(trust.signingPublicKey)).toBe(signing);
    expect(bytesToHex(trust.vrfPublicKey)).toBe(vrf);
    expect(trust.namespace).toBe('prod');
    expect(parseTrustFile(JSON.stringify({ vrfPublicKey: vrf, signingPublicKey: signing })).namespace).toBe(
      undefined,
    );
  });

  it.each([
    ['not JSON', '{', 'trust file is not JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['no VRF key', JSON.stringify({ signingPublicKey: signing }), 'are required'],
    [
      'another configuration',
      JSON.stringify({ configuration: 'experimental', vrfPublicKey: vrf, signingPublicKey: signing }),
      'whatsapp_v1',
    ],
    [
      'an unknown field',
      JSON.stringify({ vrfPublicKey: vrf, signingPublicKey: signing, url: 'x' }),
      'unexpected field "url"',
    ],
    [
      'a short key',
      JSON.stringify({ vrfPublicKey: vrf, signingPublicKey: signing.slice(2) }),
      '64 hex characters',
    ],
    [
      'a key off the curve',
      JSON.stringify({ vrfPublicKey: vrf, signingPublicKey: '05'.repeat(32) }),
      'not an Ed25519 public key',
    ],
    [
      'an empty namespace',
      JSON.stringify({ vrfPublicKey: vrf, signingPublicKey: signing, namespace: '' }),
      'namespace must be',
    ],
    ['a huge file', ' '.repeat(20_000), 'larger than'],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseTrustFile(text)).toThrow(TrustInputError);
    expect(() => parseTrustFile(text)).toThrow(message);
  });

  it('accepts keys with 0x and surrounding space, in either case', () => {
    expect(bytesToHex(parseKeyHex(` 0x${signing.toUpperCase()}\n`, 'key'))).toBe(signing);
  });
});
