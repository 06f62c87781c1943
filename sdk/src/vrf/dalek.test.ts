import { existsSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { primitivesFixtures } from '../../../test/interop/load.ts';
import { forgedProof, malformedProofs, T2, T8 } from './adversarial-proofs.ts';
import { vrfBackend } from './backend.ts';
import { encodeToCurveTaiBytesDalek, vrfEvaluateDalek, vrfProveDalek, vrfVerifyDalek } from './dalek.ts';
import { DALEK_WASM_PATH, dalekCurve, OUT, P } from './dalek-wasm.ts';
import {
  encodeToCurveTai,
  VRF_PROOF_BYTES,
  VrfError,
  vrfEvaluate,
  vrfProve,
  vrfSecretKey,
  vrfVerify,
} from './ecvrf.ts';

const Point = ed25519.Point;
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
      expect(T8.multiplyUnsafe(4n).is0()).toBe(false);
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      const alpha = random(12);
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
      const pk = sk.publicKey.bytes;
      for (const c of malformedProofs(vrfProve(sk, alpha))) {
        const [ref, got] = verdicts(pk, c.pi, alpha);
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

    it('derives labels (evaluate) as the reference', () => {
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      for (let i = 0; i < 8; i++) {
        const alpha = random(i);
        expect(vrfEvaluateDalek(sk, alpha)).toEqual(vrfEvaluate(sk, alpha));
      }
    });
  },
);
