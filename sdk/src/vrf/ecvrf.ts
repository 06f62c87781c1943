/**
 * ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite string 0x03) on @noble/curves' ed25519.
 *
 * This is the VRF akd_core uses to derive tree labels (akd_core/src/ecvrf). Proofs are
 * 80 bytes: Gamma (32) || c (16, little-endian) || s (32, little-endian). The output
 * `beta` is 64 bytes; akd uses its first 32 bytes as a node label.
 *
 * Decoding is RFC 9381 strict, which is stricter than akd 0.13's verifier but accepts
 * every proof akd (or any RFC prover) produces:
 *   - Gamma and the public key must be canonical RFC 8032 encodings (akd's decoder also
 *     accepts non-canonical y >= p);
 *   - s must be < L (akd reduces s mod L, so it accepts s + L as well);
 *   - the public key must not be of small order (as akd).
 *
 * Constant time: verification only handles public data and uses variable-time
 * arithmetic. The prover's secret-dependent operations are the SHA-512 key expansion,
 * the nonce hash, the scalar multiplications x*H, k*B, k*H (noble's `multiply`, a
 * fixed-window ladder with fake additions designed to be constant-time in the scalar),
 * and the scalar arithmetic s = k + c*x mod L and x mod L, which use JavaScript BigInt and
 * are NOT constant-time. Neither is anything in a JIT-compiled runtime guaranteed to be.
 * Use the prover on hosts where timing side channels to the VRF key are acceptable, or
 * back it with an HSM.
 */
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

const Point = ed25519.Point;
type Point = InstanceType<typeof Point>;
/** Order of the prime subgroup (L). */
const L: bigint = Point.CURVE().n;

export const VRF_SUITE = 0x03;
export const VRF_PROOF_BYTES = 80;
export const VRF_OUTPUT_BYTES = 64;
export const VRF_PUBLIC_KEY_BYTES = 32;
export const VRF_SECRET_KEY_BYTES = 32;

/** Any failure to validate a VRF key or proof. */
export class VrfError extends Error {
  override readonly name = 'VrfError';
}

/** A validated VRF public key (decoded once, reusable across verifications). */
export interface VrfPublicKey {
  readonly bytes: Uint8Array;
  readonly point: Point;
}

/** An expanded VRF secret key (RFC 8032 section 5.1.5), reusable across proofs. */
export interface VrfSecretKey {
  /** x = clamp(SHA-512(sk)[0..32]) mod L */
  readonly scalar: bigint;
  /** SHA-512(sk)[32..64], the nonce-generation key */
  readonly nonceKey: Uint8Array;
  readonly publicKey: VrfPublicKey;
}

function decodePointStrict(bytes: Uint8Array, what: string): Point {
  if (bytes.length !== 32) throw new VrfError(`${what}: expected 32 bytes, got ${bytes.length}`);
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    throw new VrfError(`${what}: not a canonical edwards25519 point encoding`);
  }
}

/** Decoded keys with their multiplication tables; a directory has one key, so a few suffice. */
const keyCache = new Map<string, VrfPublicKey>();
const KEY_CACHE_SIZE = 8;

/**
 * Validates and decodes a VRF public key (ECVRF_validate_key: rejects small-order points).
 * The decoded point gets a fixed-window table (about 1 MB, 20-60 ms, built on the first
 * reference verification with the key; the libsodium backend has its own) that makes c*Y in
 * every later verification about 3 times faster; the last 8 keys are kept.
 */
export function vrfPublicKey(bytes: Uint8Array | VrfPublicKey): VrfPublicKey {
  if (!(bytes instanceof Uint8Array)) return bytes;
  const id = bytesToHex(bytes);
  const hit = keyCache.get(id);
  if (hit) return hit;
  const point = decodePointStrict(bytes, 'VRF public key');
  if (point.isSmallOrder()) throw new VrfError('VRF public key: point of small order');
  point.precompute(8, true);
  const key = { bytes: Uint8Array.from(bytes), point };
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(id, key);
  return key;
}

/** Expands a 32-byte secret key as RFC 8032 does for Ed25519 (and akd for its VRF). */
export function vrfSecretKey(secretKey: Uint8Array | VrfSecretKey): VrfSecretKey {
  if (!(secretKey instanceof Uint8Array)) return secretKey;
  if (secretKey.length !== VRF_SECRET_KEY_BYTES) {
    throw new VrfError(`VRF secret key: expected ${VRF_SECRET_KEY_BYTES} bytes, got ${secretKey.length}`);
  }
  const h = sha512(secretKey);
  const head = h.slice(0, 32);
  head[0] = (head[0] as number) & 248;
  head[31] = ((head[31] as number) & 63) | 64;
  const scalar = bytesToNumberLE(head) % L;
  head.fill(0);
  const point = Point.BASE.multiply(scalar);
  return { scalar, nonceKey: h.slice(32, 64), publicKey: { bytes: point.toBytes(), point } };
}

/** The RFC 8032 public key of a 32-byte secret key. */
export function vrfPublicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  return vrfSecretKey(secretKey).publicKey.bytes;
}

/**
 * ECVRF_encode_to_curve_try_and_increment (RFC 9381 section 5.4.1.1), salt = public key bytes.
 * Variable-time in (pk, alpha), which are public.
 */
export function encodeToCurveTai(publicKey: Uint8Array, alpha: Uint8Array): Point {
  const prefix = encodeToCurvePrefix(publicKey, alpha);
  for (let ctr = 0; ctr < 256; ctr++) {
    const h = sha512.create().update(prefix).update(Uint8Array.of(ctr, 0x00)).digest();
    let candidate: Point;
    try {
      candidate = Point.fromBytes(h.subarray(0, 32), false);
    } catch {
      continue;
    }
    const p = candidate.clearCofactor();
    if (!p.is0()) return p;
  }
  // Probability 2^-256; RFC 9381 says to output an error.
  throw new VrfError('encode_to_curve: no valid point after 256 attempts');
}

/**
 * ECVRF_challenge_generation over point encodings (pk, H, Gamma, U, V): the 16-byte c,
 * little-endian. Shared with the libsodium backend (libsodium.ts), which has encodings only.
 */
export function challengeBytes(encodings: readonly Uint8Array[]): Uint8Array {
  const hash = sha512.create().update(Uint8Array.of(VRF_SUITE, 0x02));
  for (const e of encodings) hash.update(e);
  return hash.update(Uint8Array.of(0x00)).digest().subarray(0, 16);
}

function challenge(pk: Uint8Array, hBytes: Uint8Array, points: readonly Point[]): bigint {
  return bytesToNumberLE(challengeBytes([pk, hBytes, ...points.map((p) => p.toBytes())]));
}

/** ECVRF_proof_to_hash from the encoding of cofactor*Gamma (shared with libsodium.ts). */
export function outputFromCofactorGamma(encoded8Gamma: Uint8Array): Uint8Array {
  return sha512
    .create()
    .update(Uint8Array.of(VRF_SUITE, 0x03))
    .update(encoded8Gamma)
    .update(Uint8Array.of(0x00))
    .digest();
}

function gammaToHash(gamma: Point): Uint8Array {
  return outputFromCofactorGamma(gamma.clearCofactor().toBytes());
}

/** The first hash of ECVRF_encode_to_curve_try_and_increment before the counter byte. */
export function encodeToCurvePrefix(publicKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const prefix = new Uint8Array(2 + publicKey.length + alpha.length);
  prefix[0] = VRF_SUITE;
  prefix[1] = 0x01;
  prefix.set(publicKey, 2);
  prefix.set(alpha, 2 + publicKey.length);
  return prefix;
}

/** ECVRF_prove: an 80-byte proof for `alpha` under `secretKey`. Deterministic. */
export function vrfProve(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const sk = vrfSecretKey(secretKey);
  const pk = sk.publicKey.bytes;
  const H = encodeToCurveTai(pk, alpha);
  const hBytes = H.toBytes();
  const k = bytesToNumberLE(sha512.create().update(sk.nonceKey).update(hBytes).digest()) % L;
  if (k === 0n) throw new VrfError('VRF prove: nonce is zero'); // probability 2^-252
  const gamma = H.multiply(sk.scalar);
  const c = challenge(pk, hBytes, [gamma, Point.BASE.multiply(k), H.multiply(k)]);
  const s = (k + c * sk.scalar) % L;
  const pi = new Uint8Array(VRF_PROOF_BYTES);
  pi.set(gamma.toBytes(), 0);
  pi.set(numberToBytesLE(c, 16), 32);
  pi.set(numberToBytesLE(s, 32), 48);
  return pi;
}

/** The VRF output (beta, 64 bytes) for `alpha`, without a proof. */
export function vrfEvaluate(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const sk = vrfSecretKey(secretKey);
  const H = encodeToCurveTai(sk.publicKey.bytes, alpha);
  return gammaToHash(H.multiply(sk.scalar));
}

interface DecodedProof {
  gamma: Point;
  c: bigint;
  s: bigint;
}

function decodeProof(pi: Uint8Array): DecodedProof {
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_BYTES) {
    throw new VrfError(
      `VRF proof: expected ${VRF_PROOF_BYTES} bytes, got ${pi instanceof Uint8Array ? pi.length : typeof pi}`,
    );
  }
  const gamma = decodePointStrict(pi.subarray(0, 32), 'VRF proof Gamma');
  const c = bytesToNumberLE(pi.subarray(32, 48));
  const s = bytesToNumberLE(pi.subarray(48, 80));
  if (s >= L) throw new VrfError('VRF proof: scalar s is not reduced (s >= L)');
  return { gamma, c, s };
}

/**
 * ECVRF_proof_to_hash: the 64-byte output of a proof. Checks the encoding only — use
 * vrfVerify to check the proof itself.
 */
export function vrfProofToHash(pi: Uint8Array): Uint8Array {
  return gammaToHash(decodeProof(pi).gamma);
}

/** ECVRF_verify: returns beta (64 bytes) if `pi` is valid for `alpha`, else throws VrfError. */
export function vrfVerify(
  publicKey: Uint8Array | VrfPublicKey,
  pi: Uint8Array,
  alpha: Uint8Array,
): Uint8Array {
  const pk = vrfPublicKey(publicKey);
  const { gamma, c, s } = decodeProof(pi);
  const H = encodeToCurveTai(pk.bytes, alpha);
  // U = s*B - c*Y, V = s*H - c*Gamma (public data: variable-time multiplication is fine)
  // B and Y have tables: two table multiplications; H and Gamma do not: one Strauss-Shamir
  // double-scalar multiplication with -c folded into Gamma.
  const U = Point.BASE.multiplyUnsafe(s).subtract(pk.point.multiplyUnsafe(c));
  const V = mulAddUnsafe(Point, [H, gamma.negate()], [s, c]);
  if (challenge(pk.bytes, H.toBytes(), [gamma, U, V]) !== c) {
    throw new VrfError('VRF proof does not verify for this public key and input');
  }
  return gammaToHash(gamma);
}
