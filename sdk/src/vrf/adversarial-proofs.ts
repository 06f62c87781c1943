/**
 * Test support (imported by the backend tests only): adversarial ECVRF proofs on which a fast
 * backend (libsodium.ts, dalek.ts) must give the @noble reference's verdict.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { challengeBytes, encodeToCurveTai, VRF_PROOF_BYTES } from './ecvrf.ts';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const L = Point.CURVE().n;
const p = Point.CURVE().p;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** The point of order 2, and one of order 8. */
export const T2: EdPoint = Point.fromAffine({ x: 0n, y: p - 1n });
export const T8: EdPoint = Point.fromBytes(
  hexToBytes('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'),
);

/**
 * A proof valid for the reference under any public key Y (possibly with a torsion component)
 * and any Gamma = x*H + gammaTorsion: the prover does not know the discrete log of Y, so it
 * computes U = k*B - c*(Y - x*B) for the c it guesses modulo 8, and retries until the guess
 * is right (one in eight).
 */
export function forgedProof(x: bigint, pk: EdPoint, alpha: Uint8Array, gammaTorsion: EdPoint): Uint8Array {
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

/**
 * Malformed variants of an honest proof: s + L, non-canonical y encodings of Gamma (the
 * honest Gamma's twin y + p where it fits, y = p + 1 and p + 2, the identity with the sign
 * bit), identity, order-8 and off-curve Gamma, c = 0, s = 0, and random bytes.
 */
export function malformedProofs(honest: Uint8Array): { what: string; pi: Uint8Array }[] {
  const withGamma = (gamma: Uint8Array) => {
    const pi = honest.slice();
    pi.set(gamma, 0);
    return pi;
  };
  const cases: { what: string; pi: Uint8Array }[] = [];
  const sPlusL = honest.slice();
  sPlusL.set(numberToBytesLE(bytesToNumberLE(honest.subarray(48)) + L, 32), 48);
  cases.push({ what: 's + L', pi: sPlusL }); // akd reduces it and accepts
  const gammaBytes = honest.subarray(0, 32);
  const gammaY = bytesToNumberLE(gammaBytes) & ((1n << 255n) - 1n);
  if (gammaY + p < 1n << 255n) {
    const twin = numberToBytesLE(gammaY + p, 32);
    twin[31]! |= gammaBytes[31]! & 0x80;
    cases.push({ what: 'non-canonical twin of Gamma', pi: withGamma(twin) });
  }
  cases.push({ what: 'non-canonical Gamma y = p + 2', pi: withGamma(numberToBytesLE(p + 2n, 32)) });
  cases.push({ what: 'non-canonical Gamma y = p + 1', pi: withGamma(numberToBytesLE(p + 1n, 32)) });
  const negZero = numberToBytesLE(1n, 32);
  negZero[31] = 0x80;
  cases.push({ what: 'identity with the sign bit set', pi: withGamma(negZero) });
  cases.push({ what: 'identity Gamma', pi: withGamma(Point.ZERO.toBytes()) });
  cases.push({ what: 'order-8 Gamma', pi: withGamma(T8.toBytes()) });
  cases.push({ what: 'Gamma not on the curve', pi: withGamma(numberToBytesLE(2n, 32)) });
  const zeroC = honest.slice();
  zeroC.fill(0, 32, 48);
  cases.push({ what: 'c = 0', pi: zeroC });
  const zeroS = honest.slice();
  zeroS.fill(0, 48, 80);
  cases.push({ what: 's = 0', pi: zeroS });
  for (let i = 0; i < 8; i++) cases.push({ what: `random bytes ${i}`, pi: random(VRF_PROOF_BYTES) });
  return cases;
}
