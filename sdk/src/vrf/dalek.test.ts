import { existsSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { primitivesFixtures } from '../../../test/interop/load.ts';
import { vrfBackend } from './backend.ts';
import { encodeToCurveTaiBytesDalek, vrfEvaluateDalek, vrfProveDalek, vrfVerifyDalek } from './dalek.ts';
import { DALEK_WASM_PATH, dalekCurve, OUT, P } from './dalek-wasm.ts';
import {
  challengeBytes,
  encodeToCurveTai,
  VRF_PROOF_BYTES,
  VrfError,
  vrfEvaluate,
  vrfProve,
  vrfSecretKey,
  vrfVerify,
} from './ecvrf.ts';

const Point = ed25519.Point;
const L = Point.CURVE().n;
const p = Point.CURVE().p;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

describe('dalek VRF backend selection', () => {
  it('is the active backend when the .wasm is built; in CI the .wasm must be there', () => {
    const built = existsSync(DALEK_WASM_PATH);
    if (process.env.CI) expect(built, `${DALEK_WASM_PATH.pathname} (scripts/build-curve-wasm.sh)`).toBe(true);
    expect(vrfBackend).toBe(built ? 'dalek' : 'libsodium');
    expect(dalekCurve !== undefined).toBe(built);
  });
});

/** The reference's verdict: the output, or 'rejected'. */
function verdict(f: () => Uint8Array): string {
  try {
    return bytesToHex(f());
  } catch (e) {
    expect(e).toBeInstanceOf(VrfError);
    return 'rejected';
  }
}

function verdicts(pk: Uint8Array, pi: Uint8Array, alpha: Uint8Array): [string, string] {
  return [verdict(() => vrfVerify(pk, pi, alpha)), verdict(() => vrfVerifyDalek(pk, pi, alpha))];
}

/**
 * A proof valid for the reference under any public key Y (possibly with a torsion component)
 * and any Gamma = x*H + gammaTorsion: U = k*B - c*(Y - x*B) for the c guessed modulo 8,
 * retried until the guess is right (one in eight).
 */
function forgedProof(
  x: bigint,
  pk: InstanceType<typeof Point>,
  alpha: Uint8Array,
  gammaTorsion: InstanceType<typeof Point>,
): Uint8Array {
  const H = encodeToCurveTai(pk.toBytes(), alpha);
  const gamma = H.multiply(x).add(gammaTorsion);
  const yTorsion = pk.subtract(Point.BASE.multiply(x));
  for (let tries = 0; tries < 400; tries++) {
    const k = (bytesToNumberLE(sha512(random(32))) % (L - 1n)) + 1n;
    const guess = BigInt(tries % 8);
    const U = Point.BASE.multiply(k).subtract(yTorsion.multiplyUnsafe(guess));
    const V = H.multiply(k).subtract(gammaTorsion.multiplyUnsafe(guess));
    const c = challengeBytes([pk.toBytes(), H.toBytes(), gamma.toBytes(), U.toBytes(), V.toBytes()]);
    if (BigInt(c[0]! & 7) !== guess) continue;
    const pi = new Uint8Array(VRF_PROOF_BYTES);
    pi.set(gamma.toBytes(), 0);
    pi.set(c, 32);
    pi.set(numberToBytesLE((k + bytesToNumberLE(c) * x) % L, 32), 48);
    return pi;
  }
  throw new Error('no matching challenge in 400 tries');
}

// Without the .wasm (a machine without Rust) these are skipped; in CI the selection test above
// fails instead, so the fast backend is always the one tested there.
describe.runIf(dalekCurve !== undefined)(
  'dalek ECVRF backend: the same bytes as the @noble reference',
  () => {
    it('decodes exactly as RFC 8032 strict decoding (@noble fromBytes(.., false)), non-canonical y included', () => {
      const curve = dalekCurve!;
      const encodings: Uint8Array[] = [];
      for (let d = 0n; d < 19n; d++) {
        // y = p + d (non-canonical for every d < 19), both signs
        const y = numberToBytesLE(p + d, 32);
        encodings.push(
          y,
          Uint8Array.from(y, (b, i) => (i === 31 ? b | 0x80 : b)),
        );
      }
      for (const y of [0n, 1n, 2n, p - 1n, p - 2n]) {
        const e = numberToBytesLE(y, 32);
        encodings.push(
          e,
          Uint8Array.from(e, (b, i) => (i === 31 ? b | 0x80 : b)),
        );
      }
      for (let i = 0; i < 64; i++) encodings.push(random(32), Point.BASE.multiply(BigInt(i + 1)).toBytes());
      let accepted = 0;
      for (const e of encodings) {
        let ref: string;
        try {
          ref = bytesToHex(Point.fromBytes(e, false).clearCofactor().toBytes());
          accepted++;
        } catch {
          ref = 'rejected';
        }
        curve.buffer().set(e, P);
        const code = curve.exports.mul_by_cofactor();
        const got = code === 0 ? 'rejected' : bytesToHex(curve.buffer().slice(OUT, OUT + 32));
        expect(got, bytesToHex(e)).toBe(ref);
      }
      expect(accepted).toBeGreaterThan(64);
    });

    it('reproduces akd / RFC 9381 proofs and outputs (test/interop/fixtures/primitives.json)', () => {
      const fx = primitivesFixtures();
      expect(fx.vrf.length).toBeGreaterThan(0);
      for (const f of fx.vrf) {
        const [sk, pk, alpha] = [hexToBytes(f.sk), hexToBytes(f.pk), hexToBytes(f.alpha)];
        expect(bytesToHex(vrfProveDalek(sk, alpha))).toBe(f.pi);
        expect(bytesToHex(vrfEvaluateDalek(sk, alpha).subarray(0, 32))).toBe(f.beta_prefix32);
        expect(bytesToHex(vrfVerifyDalek(pk, hexToBytes(f.pi), alpha).subarray(0, 32))).toBe(f.beta_prefix32);
      }
    });

    it('agrees on random keys and inputs: encode to curve, prove, evaluate, verify', () => {
      for (let i = 0; i < 24; i++) {
        const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
        const pk = sk.publicKey.bytes;
        const alpha = random(i % 70);
        expect(encodeToCurveTaiBytesDalek(pk, alpha)).toEqual(encodeToCurveTai(pk, alpha).toBytes());
        const pi = vrfProve(sk, alpha);
        expect(vrfProveDalek(sk, alpha)).toEqual(pi);
        const beta = vrfVerify(pk, pi, alpha);
        expect(vrfVerifyDalek(pk, pi, alpha)).toEqual(beta);
        expect(vrfEvaluateDalek(sk, alpha)).toEqual(beta);
      }
    });

    it('rejects every single-bit change of a proof, as the reference does', () => {
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      const alpha = random(16);
      const pi = vrfProve(sk, alpha);
      for (let bit = 0; bit < VRF_PROOF_BYTES * 8; bit += 7) {
        const bad = pi.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => vrfVerifyDalek(sk.publicKey.bytes, bad, alpha)).toThrow(VrfError);
      }
      expect(() => vrfVerifyDalek(sk.publicKey.bytes, pi, random(16))).toThrow(VrfError);
      expect(() => vrfVerifyDalek(sk.publicKey.bytes, pi.subarray(1), alpha)).toThrow(/80 bytes/);
    });

    it('gives the reference verdict on adversarial proofs: torsion in Y and Gamma, s >= L, non-canonical, identity, small-order and off-curve Gamma, zero scalars, random bytes', () => {
      const T2 = Point.fromAffine({ x: 0n, y: p - 1n });
      const T8 = Point.fromBytes(
        hexToBytes('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'),
      );
      expect(T8.multiplyUnsafe(4n).is0()).toBe(false);
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      const alpha = random(12);
      const cases: { what: string; pk: Uint8Array; pi: Uint8Array }[] = [];
      const Y = sk.publicKey.point;
      for (const [what, yT, gT] of [
        ['honest', Point.ZERO, Point.ZERO],
        ['Y + T8', T8, Point.ZERO],
        ['Gamma + T8', Point.ZERO, T8],
        ['Gamma + T2', Point.ZERO, T2],
        ['Y + T2, Gamma + T8', T2, T8],
      ] as const) {
        const pk = Y.add(yT);
        const pi = forgedProof(sk.scalar, pk, alpha, gT);
        const [ref, got] = verdicts(pk.toBytes(), pi, alpha);
        expect(ref, what).not.toBe('rejected');
        expect(got, what).toBe(ref);
      }
      const honest = vrfProve(sk, alpha);
      const pk = sk.publicKey.bytes;
      const withGamma = (gamma: Uint8Array) => {
        const pi = honest.slice();
        pi.set(gamma, 0);
        return pi;
      };
      const sPlusL = honest.slice();
      sPlusL.set(numberToBytesLE(bytesToNumberLE(honest.subarray(48)) + L, 32), 48);
      cases.push({ what: 's + L', pk, pi: sPlusL });
      const gammaBytes = honest.subarray(0, 32);
      // Gamma's y + p where that still fits in 255 bits: the non-canonical twin of a valid Gamma
      const gammaY = bytesToNumberLE(gammaBytes) & ((1n << 255n) - 1n);
      if (gammaY + p < 1n << 255n) {
        const twin = numberToBytesLE(gammaY + p, 32);
        twin[31]! |= gammaBytes[31]! & 0x80;
        cases.push({ what: 'non-canonical twin of Gamma', pk, pi: withGamma(twin) });
      }
      cases.push({ what: 'non-canonical Gamma y = p + 2', pk, pi: withGamma(numberToBytesLE(p + 2n, 32)) });
      cases.push({
        what: 'non-canonical Gamma y = p + 1 (identity twin)',
        pk,
        pi: withGamma(numberToBytesLE(p + 1n, 32)),
      });
      const negZero = numberToBytesLE(1n, 32);
      negZero[31] = 0x80;
      cases.push({ what: 'identity with the sign bit set', pk, pi: withGamma(negZero) });
      cases.push({ what: 'identity Gamma', pk, pi: withGamma(Point.ZERO.toBytes()) });
      cases.push({ what: 'order-8 Gamma', pk, pi: withGamma(T8.toBytes()) });
      cases.push({ what: 'Gamma not on the curve', pk, pi: withGamma(numberToBytesLE(2n, 32)) });
      const zeroC = honest.slice();
      zeroC.fill(0, 32, 48);
      cases.push({ what: 'c = 0', pk, pi: zeroC });
      const zeroS = honest.slice();
      zeroS.fill(0, 48, 80);
      cases.push({ what: 's = 0', pk, pi: zeroS });
      for (let i = 0; i < 8; i++) cases.push({ what: `random bytes ${i}`, pk, pi: random(VRF_PROOF_BYTES) });
      for (const c of cases) {
        const [ref, got] = verdicts(c.pk, c.pi, alpha);
        expect(got, c.what).toBe(ref);
      }
    });

    it('wipes the secret scalar slot after constant-time multiplications', () => {
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      vrfProveDalek(sk, random(8));
      vrfEvaluateDalek(sk, random(8));
      expect(
        dalekCurve!
          .buffer()
          .subarray(32, 64)
          .every((b) => b === 0),
      ).toBe(true);
    });

    it('evaluates as the reference for every key scalar, zero-free', () => {
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      for (let i = 0; i < 8; i++) {
        const alpha = random(i);
        expect(vrfEvaluateDalek(sk, alpha)).toEqual(vrfEvaluate(sk, alpha));
      }
    });
  },
);
