import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { primitivesFixtures } from '../../../test/interop/load.ts';
import {
  encodeToCurveTai,
  VrfError,
  vrfEvaluate,
  vrfProofToHash,
  vrfProve,
  vrfPublicKey,
  vrfPublicKeyFromSecret,
  vrfSecretKey,
  vrfVerify,
} from './ecvrf.ts';

// RFC 9381, Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI), examples 16-18. SK and PK are the
// RFC 8032 section 7.1 test keys. x is the secret scalar, H the encode_to_curve output,
// U = k*B and V = k*H the prover's commitments, pi the proof and beta the output.
const RFC9381_B3 = [
  {
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    alpha: '',
    x: '307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f',
    H: '91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318',
    U: 'aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071',
    V: '5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f',
    pi: '8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805',
    beta: '90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae',
  },
  {
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    alpha: '72',
    x: '68bd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e51',
    H: '5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551',
    U: '1dcb0a4821a2c48bf53548228b7f170962988f6d12f5439f31987ef41f034ab3',
    V: 'fd03c0bf498c752161bae4719105a074630a2aa5f200ff7b3995f7bfb1513423',
    pi: 'f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02',
    beta: 'eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031',
  },
  {
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    alpha: 'af82',
    x: '909a8b755ed902849023a55b15c23d11ba4d7f4ec5c2f51b1325a181991ea95c',
    H: 'bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a',
    U: '2bae73e15a64042fcebf062abe7e432b2eca6744f3e8265bc38e009cd577ecd5',
    V: '88cba1cb0d4f9b649d9a86026b69de076724a93a65c349c988954f0961c5d506',
    pi: '9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e',
    beta: '645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f',
  },
];

const L = ed25519.Point.CURVE().n;

describe('ECVRF-EDWARDS25519-SHA512-TAI: RFC 9381 appendix B.3', () => {
  for (const [i, v] of RFC9381_B3.entries()) {
    describe(`example ${16 + i}`, () => {
      const sk = hexToBytes(v.sk);
      const alpha = hexToBytes(v.alpha);

      it('derives the public key and secret scalar', () => {
        expect(bytesToHex(vrfPublicKeyFromSecret(sk))).toBe(v.pk);
        // the RFC prints the clamped scalar before reduction mod L
        expect(vrfSecretKey(sk).scalar).toBe(bytesToNumberLE(hexToBytes(v.x)) % L);
      });

      it('encodes alpha to the curve point H', () => {
        expect(bytesToHex(encodeToCurveTai(hexToBytes(v.pk), alpha).toBytes())).toBe(v.H);
      });

      it('proves pi, and pi satisfies U = s*B - c*Y and V = s*H - c*Gamma', () => {
        const pi = vrfProve(sk, alpha);
        expect(bytesToHex(pi)).toBe(v.pi);
        const P = ed25519.Point;
        const gamma = P.fromBytes(pi.subarray(0, 32));
        const c = bytesToNumberLE(pi.subarray(32, 48));
        const s = bytesToNumberLE(pi.subarray(48, 80));
        const Y = P.fromBytes(hexToBytes(v.pk));
        const H = P.fromBytes(hexToBytes(v.H));
        expect(bytesToHex(P.BASE.multiply(s).subtract(Y.multiply(c)).toBytes())).toBe(v.U);
        expect(bytesToHex(H.multiply(s).subtract(gamma.multiply(c)).toBytes())).toBe(v.V);
      });

      it('verifies pi and outputs beta', () => {
        expect(bytesToHex(vrfVerify(hexToBytes(v.pk), hexToBytes(v.pi), alpha))).toBe(v.beta);
        expect(bytesToHex(vrfProofToHash(hexToBytes(v.pi)))).toBe(v.beta);
        expect(bytesToHex(vrfEvaluate(sk, alpha))).toBe(v.beta);
      });

      it('rejects every single-bit flip of pi, another alpha and another key', () => {
        const pk = vrfPublicKey(hexToBytes(v.pk));
        const pi = hexToBytes(v.pi);
        for (let byte = 0; byte < pi.length; byte++) {
          for (const bit of [0x01, 0x80]) {
            const bad = pi.slice();
            bad[byte] = (bad[byte] as number) ^ bit;
            expect(() => vrfVerify(pk, bad, alpha), `byte ${byte} ^ ${bit}`).toThrow(VrfError);
          }
        }
        expect(() => vrfVerify(pk, pi, Uint8Array.of(...alpha, 0))).toThrow(VrfError);
        const other = RFC9381_B3[(i + 1) % 3] as (typeof RFC9381_B3)[0];
        expect(() => vrfVerify(hexToBytes(other.pk), pi, alpha)).toThrow(VrfError);
      });
    });
  }
});

describe('strict decoding (stricter than akd 0.13, never rejecting an honest proof)', () => {
  const v = RFC9381_B3[0] as (typeof RFC9381_B3)[0];
  const pi = hexToBytes(v.pi);
  const alpha = hexToBytes(v.alpha);

  it('rejects s + L, which akd reduces and accepts', () => {
    const s = bytesToNumberLE(pi.subarray(48, 80));
    const bad = pi.slice();
    bad.set(numberToBytesLE(s + L, 32), 48);
    expect(() => vrfVerify(hexToBytes(v.pk), bad, alpha)).toThrow(/s >= L/);
  });

  it('rejects a non-canonical Gamma encoding', () => {
    const gammaY = bytesToNumberLE(pi.subarray(0, 32)) & ((1n << 255n) - 1n);
    const p = 2n ** 255n - 19n;
    // y + p fits in 255 bits only for y < 19; build such a point: y = 1 + p is the identity
    expect(gammaY).toBeGreaterThan(18n);
    const bad = pi.slice();
    bad.set(numberToBytesLE(1n + p, 32), 0);
    expect(() => vrfVerify(hexToBytes(v.pk), bad, alpha)).toThrow(/canonical/);
  });

  it('rejects small-order and malformed public keys', () => {
    const identity = numberToBytesLE(1n, 32);
    expect(() => vrfPublicKey(identity)).toThrow(/small order/);
    expect(() => vrfPublicKey(new Uint8Array(31))).toThrow(VrfError);
    expect(() => vrfVerify(identity, pi, alpha)).toThrow(VrfError);
  });

  it('rejects proofs of the wrong length', () => {
    expect(() => vrfVerify(hexToBytes(v.pk), pi.subarray(0, 79), alpha)).toThrow(/80 bytes/);
    expect(() => vrfProofToHash(new Uint8Array(81))).toThrow(VrfError);
    expect(() => vrfSecretKey(new Uint8Array(31))).toThrow(VrfError);
  });
});

describe('agreement with the akd crate (test/interop/fixtures/primitives.json)', () => {
  const fx = primitivesFixtures();
  it('produces the proofs akd produces for the RFC inputs, and akd proves what the RFC says', () => {
    expect(fx.vrf.length).toBe(3);
    for (const [i, f] of fx.vrf.entries()) {
      const rfc = RFC9381_B3[i] as (typeof RFC9381_B3)[0];
      expect(f.pi).toBe(rfc.pi);
      const pi = vrfProve(hexToBytes(f.sk), hexToBytes(f.alpha));
      expect(bytesToHex(pi)).toBe(f.pi);
      expect(bytesToHex(vrfVerify(hexToBytes(f.pk), pi, hexToBytes(f.alpha)).subarray(0, 32))).toBe(
        f.beta_prefix32,
      );
    }
  });
});
