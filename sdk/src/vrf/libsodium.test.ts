import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { primitivesFixtures } from '../../../test/interop/load.ts';
import { forgedProof, malformedProofs, T2, T8 } from './adversarial-proofs.ts';
import {
  challengeBytes,
  encodeToCurveTai,
  VRF_PROOF_BYTES,
  VrfError,
  vrfEvaluate,
  vrfProve,
  vrfPublicKey,
  vrfSecretKey,
  vrfVerify,
} from './ecvrf.ts';
import {
  encodeToCurveTaiBytes,
  vrfEvaluateLibsodium,
  vrfProveLibsodium,
  vrfVerifyLibsodium,
  vrfVerifyLibsodiumOnly,
} from './libsodium.ts';

const Point = ed25519.Point;
const L = Point.CURVE().n;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

describe('libsodium ECVRF backend: the same bytes as the @noble reference', () => {
  it('reproduces akd / RFC 9381 proofs and outputs (test/interop/fixtures/primitives.json)', () => {
    const fx = primitivesFixtures();
    expect(fx.vrf.length).toBeGreaterThan(0);
    for (const f of fx.vrf) {
      const [sk, pk, alpha] = [hexToBytes(f.sk), hexToBytes(f.pk), hexToBytes(f.alpha)];
      expect(bytesToHex(vrfProveLibsodium(sk, alpha))).toBe(f.pi);
      expect(bytesToHex(vrfEvaluateLibsodium(sk, alpha).subarray(0, 32))).toBe(f.beta_prefix32);
      const beta = vrfVerifyLibsodiumOnly(vrfPublicKey(pk), hexToBytes(f.pi), alpha);
      expect(beta && bytesToHex(beta.subarray(0, 32))).toBe(f.beta_prefix32);
    }
  });

  it('agrees on random keys and inputs: encode to curve, prove, evaluate, verify', () => {
    for (let i = 0; i < 24; i++) {
      const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
      const pk = vrfPublicKey(sk.publicKey.bytes);
      const alpha = random(i % 70);
      expect(encodeToCurveTaiBytes(pk.bytes, alpha)).toEqual(encodeToCurveTai(pk.bytes, alpha).toBytes());
      const pi = vrfProve(sk, alpha);
      expect(vrfProveLibsodium(sk, alpha)).toEqual(pi);
      const beta = vrfVerify(pk, pi, alpha);
      expect(vrfEvaluateLibsodium(sk, alpha)).toEqual(beta);
      expect(vrfEvaluate(sk, alpha)).toEqual(beta);
      // libsodium alone accepts every honest proof (no fallback to the reference)
      expect(vrfVerifyLibsodiumOnly(pk, pi, alpha)).toEqual(beta);
    }
  });

  it('rejects every single-bit change of a proof, as the reference does', () => {
    const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
    const alpha = random(16);
    const pi = vrfProve(sk, alpha);
    // every 7th bit: each byte of the proof is hit, and the test stays fast on a busy machine
    for (let bit = 0; bit < VRF_PROOF_BYTES * 8; bit += 7) {
      const bad = pi.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      // libsodium rejects it itself, or refuses an input and leaves it to the reference
      let alone: Uint8Array | undefined | 'rejected';
      try {
        alone = vrfVerifyLibsodiumOnly(vrfPublicKey(sk.publicKey.bytes), bad, alpha);
      } catch (e) {
        expect(e).toBeInstanceOf(VrfError);
        alone = 'rejected';
      }
      expect(alone === undefined || alone === 'rejected').toBe(true);
      expect(() => vrfVerifyLibsodium(sk.publicKey.bytes, bad, alpha)).toThrow(VrfError);
      expect(() => vrfVerify(sk.publicKey.bytes, bad, alpha)).toThrow(VrfError);
    }
    expect(() => vrfVerifyLibsodium(sk.publicKey.bytes, pi, random(16))).toThrow(VrfError);
    expect(() => vrfVerifyLibsodium(sk.publicKey.bytes, pi.subarray(1), alpha)).toThrow(/80 bytes/);
  });

  it('leaves a valid proof whose Gamma has a torsion component to the reference, which accepts it', () => {
    // RFC 9381 accepts Gamma' = x*H + T (T of order 2) when c*T = 0, i.e. c even; libsodium
    // refuses points outside the prime-order subgroup, so the reference must decide.
    const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
    const pk = sk.publicKey.bytes;
    const alpha = random(8);
    const H = encodeToCurveTai(pk, alpha);
    const T = Point.fromAffine({ x: 0n, y: Point.CURVE().p - 1n });
    const gamma = H.multiply(sk.scalar).add(T);
    let pi: Uint8Array | undefined;
    for (let tries = 0; pi === undefined && tries < 200; tries++) {
      const k = (bytesToNumberLE(sha512(random(32))) % (L - 1n)) + 1n;
      const c = challengeBytes([
        pk,
        H.toBytes(),
        gamma.toBytes(),
        Point.BASE.multiply(k).toBytes(),
        H.multiply(k).toBytes(),
      ]);
      if ((c[0]! & 1) !== 0) continue;
      pi = new Uint8Array(VRF_PROOF_BYTES);
      pi.set(gamma.toBytes(), 0);
      pi.set(c, 32);
      pi.set(numberToBytesLE((k + bytesToNumberLE(c) * sk.scalar) % L, 32), 48);
    }
    if (pi === undefined) throw new Error('no even challenge in 200 tries');
    expect(vrfVerifyLibsodiumOnly(vrfPublicKey(pk), pi, alpha)).toBeUndefined();
    const beta = vrfVerify(pk, pi, alpha);
    expect(vrfVerifyLibsodium(pk, pi, alpha)).toEqual(beta);
    // the output ignores the torsion: it is the honest output
    expect(beta).toEqual(vrfEvaluate(sk, alpha));
  });

  /** The reference's and libsodium's verdicts: the output, or 'rejected'. */
  function verdicts(pk: Uint8Array, pi: Uint8Array, alpha: Uint8Array): [string, string] {
    const verdict = (f: () => Uint8Array) => {
      try {
        return bytesToHex(f());
      } catch (e) {
        expect(e).toBeInstanceOf(VrfError);
        return 'rejected';
      }
    };
    return [verdict(() => vrfVerify(pk, pi, alpha)), verdict(() => vrfVerifyLibsodium(pk, pi, alpha))];
  }

  it('gives the reference verdict on adversarial proofs: torsion in Y and Gamma, s >= L, non-canonical and small-order Gamma, zero scalars', () => {
    expect(T8.multiplyUnsafe(4n).is0()).toBe(false);
    const sk = vrfSecretKey(ed25519.utils.randomSecretKey());
    const alpha = random(12);
    const cases: { what: string; pk: Uint8Array; pi: Uint8Array; alpha: Uint8Array }[] = [];
    const Y = sk.publicKey.point;
    for (const [what, yT, gT] of [
      ['honest', Point.ZERO, Point.ZERO],
      ['Y + T8', T8, Point.ZERO],
      ['Gamma + T8', Point.ZERO, T8],
      ['Y + T2, Gamma + T8', T2, T8],
    ] as const) {
      const pk = Y.add(yT);
      const pi = forgedProof(sk.scalar, pk, alpha, gT);
      cases.push({ what, pk: pk.toBytes(), pi, alpha });
      const [ref] = verdicts(pk.toBytes(), pi, alpha);
      expect(ref, what).not.toBe('rejected');
      // a torsion-free Gamma is decided by libsodium alone, whatever the torsion of Y
      if (gT.is0()) {
        const alone = vrfVerifyLibsodiumOnly(vrfPublicKey(pk.toBytes()), pi, alpha);
        expect(alone && bytesToHex(alone), what).toBe(ref);
      }
      // the output ignores Gamma's torsion
      expect(ref, what).toBe(
        bytesToHex(vrfVerify(pk.toBytes(), forgedProof(sk.scalar, pk, alpha, Point.ZERO), alpha)),
      );
    }
    const honest = vrfProve(sk, alpha);
    const pk = sk.publicKey.bytes;
    for (const c of malformedProofs(honest)) cases.push({ ...c, pk, alpha });
    for (const c of cases) {
      const [ref, sodium] = verdicts(c.pk, c.pi, c.alpha);
      expect(sodium, c.what).toBe(ref);
    }
    // and the torsion-free honest proof is decided by libsodium alone
    expect(vrfVerifyLibsodiumOnly(vrfPublicKey(pk), honest, alpha)).toEqual(vrfVerify(pk, honest, alpha));
  });

  it('encodes to the same point on inputs whose first candidates fail to decode', () => {
    // alphas chosen at random: about half the candidates are not on the curve; compare many
    let retried = 0;
    const pk = vrfSecretKey(ed25519.utils.randomSecretKey()).publicKey.bytes;
    for (let i = 0; i < 64; i++) {
      const alpha = random(8);
      const ref = encodeToCurveTai(pk, alpha);
      expect(encodeToCurveTaiBytes(pk, alpha)).toEqual(ref.toBytes());
      const first = sha512(Uint8Array.of(0x03, 0x01, ...pk, ...alpha, 0x00, 0x00)).subarray(0, 32);
      if (!equalBytesOf(first, ref)) retried++;
    }
    expect(retried).toBeGreaterThan(0);
  });
});

function equalBytesOf(candidate: Uint8Array, point: InstanceType<typeof Point>): boolean {
  try {
    return Point.fromBytes(candidate).clearCofactor().equals(point);
  } catch {
    return false;
  }
}
