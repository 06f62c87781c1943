/**
 * ECVRF-EDWARDS25519-SHA512-TAI with the curve arithmetic done by libsodium (WASM), for the
 * hot paths: directory publishers derive a VRF label per leaf, clients verify three VRF
 * proofs per lookup. @noble (ecvrf.ts) stays the reference: every function here gives the
 * same bytes as its ecvrf.ts counterpart (libsodium.test.ts checks that on random inputs),
 * and verification hands every input libsodium refuses to the reference.
 *
 * libsodium exposes no bare point decoding or variable-base multiplication of an arbitrary
 * point: `crypto_scalarmult_ed25519_noclamp` accepts canonical points of the prime-order
 * subgroup only, and `crypto_core_ed25519_add` accepts any point on the curve. So
 *   - try-and-increment decodes a candidate by doubling it (add(P, P), which fails exactly
 *     when the candidate is not on the curve) three times: that is the cofactor clearing;
 *   - Gamma, which an honest prover makes in the subgroup, goes to noclamp directly; a proof
 *     whose Gamma is outside it (RFC 9381 allows such a proof) is left to the reference;
 *   - the output needs 8*Gamma: three more additions.
 *
 * libsodium's multiplication is constant time in the scalar, which is what the prover and
 * the label derivation need for the secret x and nonce k (the reference uses BigInt for
 * s = k + c*x mod L here too: see the note in ecvrf.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, equalBytes, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import sodium from 'libsodium-wrappers-sumo';
import {
  challengeBytes,
  encodeToCurvePrefix,
  outputFromCofactorGamma,
  VRF_PROOF_BYTES,
  VrfError,
  type VrfPublicKey,
  type VrfSecretKey,
  vrfPublicKey,
  vrfSecretKey,
  vrfVerify,
} from './ecvrf.ts';

await sodium.ready;

const L: bigint = ed25519.Point.CURVE().n;
/** 2^255 - 19 */
const P: bigint = ed25519.Point.CURVE().p;
const Y_MASK = (1n << 255n) - 1n;
const IDENTITY = numberToBytesLE(1n, 32);

/** libsodium throws on a refused point or a zero result; this says "refused" instead. */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

const double = (p: Uint8Array) => sodium.crypto_core_ed25519_add(p, p);

/**
 * The RFC 8032 decoding of `candidate` times the cofactor, or undefined where decoding fails
 * or the product is the identity (try-and-increment moves on in both cases).
 */
function cofactorTimesCandidate(candidate: Uint8Array): Uint8Array | undefined {
  // RFC 8032 decoding refuses y >= p; y = +-1 (x = 0) either fails to decode (sign bit set) or
  // is a point of small order, whose multiple is the identity. libsodium's decoder does not
  // make those distinctions, so they are settled here.
  const y = bytesToNumberLE(candidate) & Y_MASK;
  if (y >= P || y === 1n || y === P - 1n) return undefined;
  const twice = attempt(() => double(candidate));
  if (twice === undefined) return undefined;
  const eight = double(double(twice));
  return equalBytes(eight, IDENTITY) ? undefined : eight;
}

/** ECVRF_encode_to_curve_try_and_increment: the encoding of H (= encodeToCurveTai(..).toBytes()). */
export function encodeToCurveTaiBytes(publicKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const prefix = encodeToCurvePrefix(publicKey, alpha);
  for (let ctr = 0; ctr < 256; ctr++) {
    const h = sha512.create().update(prefix).update(Uint8Array.of(ctr, 0x00)).digest();
    const point = cofactorTimesCandidate(h.subarray(0, 32));
    if (point !== undefined) return point;
  }
  throw new Error('encode_to_curve: no valid point after 256 attempts');
}

/** A secret key's scalars as libsodium takes them, computed once per key. */
type SodiumScalars = { readonly x: Uint8Array; readonly eightX: Uint8Array; readonly key: VrfSecretKey };
const scalars = new WeakMap<VrfSecretKey, SodiumScalars>();

function sodiumScalars(secretKey: Uint8Array | VrfSecretKey): SodiumScalars {
  const key = vrfSecretKey(secretKey);
  let s = scalars.get(key);
  if (s === undefined) {
    s = {
      x: numberToBytesLE(key.scalar, 32),
      // 8*Gamma = 8x*H, and H has order L
      eightX: numberToBytesLE((8n * key.scalar) % L, 32),
      key,
    };
    scalars.set(key, s);
  }
  return s;
}

/** = vrfEvaluate: the 64-byte output for `alpha`, without a proof. */
export function vrfEvaluateLibsodium(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const s = sodiumScalars(secretKey);
  const h = encodeToCurveTaiBytes(s.key.publicKey.bytes, alpha);
  return outputFromCofactorGamma(sodium.crypto_scalarmult_ed25519_noclamp(s.eightX, h));
}

/** = vrfProve: the same 80 bytes (the proof is deterministic). */
export function vrfProveLibsodium(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const sk = sodiumScalars(secretKey);
  const pk = sk.key.publicKey.bytes;
  const h = encodeToCurveTaiBytes(pk, alpha);
  const k = bytesToNumberLE(sha512.create().update(sk.key.nonceKey).update(h).digest()) % L;
  const kBytes = numberToBytesLE(k, 32);
  // k = 0 (probability 2^-252) makes libsodium throw, as the reference does.
  const gamma = sodium.crypto_scalarmult_ed25519_noclamp(sk.x, h);
  const kB = sodium.crypto_scalarmult_ed25519_base_noclamp(kBytes);
  const kH = sodium.crypto_scalarmult_ed25519_noclamp(kBytes, h);
  const cBytes = challengeBytes([pk, h, gamma, kB, kH]);
  const s = (k + bytesToNumberLE(cBytes) * sk.key.scalar) % L;
  kBytes.fill(0);
  const pi = new Uint8Array(VRF_PROOF_BYTES);
  pi.set(gamma, 0);
  pi.set(cBytes, 32);
  pi.set(numberToBytesLE(s, 32), 48);
  return pi;
}

/**
 * ECVRF_verify with libsodium: beta if `pi` is valid for `alpha`; throws VrfError if it is not
 * (libsodium accepted every input, so the challenge it recomputed is the reference's); returns
 * undefined when libsodium refuses an input (a Gamma outside the prime-order subgroup, a zero
 * scalar, ...): then only the reference can say whether the proof is valid, and why not.
 */
export function vrfVerifyLibsodiumOnly(
  pk: VrfPublicKey,
  pi: Uint8Array,
  alpha: Uint8Array,
): Uint8Array | undefined {
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_BYTES) return undefined;
  const gamma = pi.subarray(0, 32);
  const cBytes = pi.subarray(32, 48);
  const sBytes = pi.subarray(48, 80);
  if (bytesToNumberLE(sBytes) >= L) return undefined;
  const c = new Uint8Array(32);
  c.set(cBytes);
  const computed = attempt(() => {
    const h = encodeToCurveTaiBytes(pk.bytes, alpha);
    // U = s*B - c*Y (c*Y from the key's precomputed @noble table), V = s*H - c*Gamma
    const cY = pk.point.multiplyUnsafe(bytesToNumberLE(cBytes)).toBytes();
    const u = sodium.crypto_core_ed25519_sub(sodium.crypto_scalarmult_ed25519_base_noclamp(sBytes), cY);
    const v = sodium.crypto_core_ed25519_sub(
      sodium.crypto_scalarmult_ed25519_noclamp(sBytes, h),
      sodium.crypto_scalarmult_ed25519_noclamp(c, gamma),
    );
    return { challenge: challengeBytes([pk.bytes, h, gamma, u, v]), gamma8: double(double(double(gamma))) };
  });
  if (computed === undefined) return undefined;
  if (!equalBytes(computed.challenge, cBytes)) {
    throw new VrfError('VRF proof does not verify for this public key and input');
  }
  return outputFromCofactorGamma(computed.gamma8);
}

/** = vrfVerify: beta if `pi` is valid for `alpha`, else throws VrfError. */
export function vrfVerifyLibsodium(
  publicKey: Uint8Array | VrfPublicKey,
  pi: Uint8Array,
  alpha: Uint8Array,
): Uint8Array {
  const pk = vrfPublicKey(publicKey);
  return vrfVerifyLibsodiumOnly(pk, pi, alpha) ?? vrfVerify(pk, pi, alpha);
}
