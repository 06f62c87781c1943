/**
 * ECVRF-EDWARDS25519-SHA512-TAI with the curve arithmetic done by libsodium (WASM), for the
 * hot paths: directory publishers derive a VRF label per leaf, clients verify three VRF
 * proofs per lookup. @noble (ecvrf.ts) stays the reference: every function here gives the
 * same bytes as its ecvrf.ts counterpart (libsodium.test.ts checks that on random and
 * adversarial inputs), and verification hands every input libsodium refuses to the reference.
 *
 * libsodium exposes no bare point decoding or variable-base multiplication of an arbitrary
 * point: `crypto_scalarmult_ed25519_noclamp` accepts canonical points of the prime-order
 * subgroup only, and `crypto_core_ed25519_add` accepts any point on the curve. So
 *   - try-and-increment decodes a candidate by doubling it (add(P, P), which fails exactly
 *     when the candidate is not on the curve) three times: that is the cofactor clearing;
 *   - Gamma, which an honest prover makes in the subgroup, goes to noclamp directly; a proof
 *     whose Gamma is outside it (RFC 9381 allows such a proof) is left to the reference;
 *   - the output needs 8*Gamma: three more additions;
 *   - c*Y in verification is a variable-time multiplication by the 128-bit c on a per-key
 *     @noble table (short-scalar-table.ts): c and Y are public.
 * The calls go to libsodium's raw exports on a scratch area of its heap (sodium-heap.ts).
 *
 * libsodium's multiplication is constant time in the scalar, which is what the prover and
 * the label derivation need for the secret x and nonce k (the reference uses BigInt for
 * s = k + c*x mod L here too: see the note in ecvrf.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, equalBytes, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  challengeBytes,
  encodeToCurvePrefix,
  outputFromCofactorGamma,
  VRF_PROOF_BYTES,
  VrfError,
  type VrfPublicKey,
  type VrfSecretKey,
  vrfPublicKey,
  vrfVerify,
} from './ecvrf.ts';
import { keyScalars } from './key-scalars.ts';
import { ShortScalarTable } from './short-scalar-table.ts';
import {
  add,
  mulBaseNoclamp,
  mulNoclamp,
  read,
  type Slot,
  slots,
  sub,
  view,
  wipe,
  write,
} from './sodium-heap.ts';

const L: bigint = ed25519.Point.CURVE().n;

// Scratch slots, fixed per role (no function here calls another while it holds a slot but
// encodeToCurve, which uses H only).
const [H, SCALAR, SCALAR2, GAMMA, U, CY, V, T] = slots as [Slot, Slot, Slot, Slot, Slot, Slot, Slot, Slot];

/**
 * Whether RFC 8032 decoding of `candidate` can give a point whose cofactor multiple is not the
 * identity, as far as its y alone says: y >= p fails to decode; y = 1 and y = p - 1 (x = 0)
 * either fail to decode (sign bit set) or are of small order. libsodium's decoder does not
 * make those distinctions, so they are settled here (little-endian p = ed ff .. ff 7f).
 */
function yMayDecode(candidate: Uint8Array): boolean {
  const top = (candidate[31] as number) & 0x7f;
  let middleAllOnes = top === 0x7f;
  let middleAllZeros = top === 0;
  for (let i = 1; i < 31; i++) {
    const b = candidate[i] as number;
    middleAllOnes &&= b === 0xff;
    middleAllZeros &&= b === 0;
  }
  const low = candidate[0] as number;
  if (middleAllOnes && low >= 0xec) return false; // y >= p, or y = p - 1
  if (middleAllZeros && low === 1) return false; // y = 1
  return true;
}

function isIdentity(encoding: Uint8Array): boolean {
  if (encoding[0] !== 1) return false;
  for (let i = 1; i < 32; i++) if (encoding[i] !== 0) return false;
  return true;
}

/**
 * ECVRF_encode_to_curve_try_and_increment into slot H: the cofactor multiple of the first
 * candidate that decodes and whose multiple is not the identity.
 */
function encodeToCurve(publicKey: Uint8Array, alpha: Uint8Array): void {
  const prefix = encodeToCurvePrefix(publicKey, alpha);
  const suffix = new Uint8Array(2);
  for (let ctr = 0; ctr < 256; ctr++) {
    suffix[0] = ctr;
    const candidate = sha512.create().update(prefix).update(suffix).digest().subarray(0, 32);
    if (!yMayDecode(candidate)) continue;
    write(H, candidate);
    if (!add(H, H, H)) continue; // not on the curve
    add(H, H, H);
    add(H, H, H);
    if (!isIdentity(view(H))) return;
  }
  // Probability 2^-256; RFC 9381 says to output an error.
  throw new VrfError('encode_to_curve: no valid point after 256 attempts');
}

/** ECVRF_encode_to_curve_try_and_increment: the encoding of H (= encodeToCurveTai(..).toBytes()). */
export function encodeToCurveTaiBytes(publicKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  encodeToCurve(publicKey, alpha);
  return read(H);
}

/** = vrfEvaluate: the 64-byte output for `alpha`, without a proof. */
export function vrfEvaluateLibsodium(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const s = keyScalars(secretKey);
  encodeToCurve(s.key.publicKey.bytes, alpha);
  write(SCALAR, s.eightX);
  const ok = mulNoclamp(T, SCALAR, H);
  wipe(SCALAR);
  // Refused only for 8x = 0 mod L, which vrfSecretKey's clamping rules out but with
  // probability 2^-252.
  if (!ok) throw new VrfError('VRF evaluate: secret scalar is zero modulo L');
  return outputFromCofactorGamma(view(T));
}

/** = vrfProve: the same 80 bytes (the proof is deterministic). */
export function vrfProveLibsodium(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const sk = keyScalars(secretKey);
  const pk = sk.key.publicKey.bytes;
  encodeToCurve(pk, alpha);
  const h = read(H);
  const k = bytesToNumberLE(sha512.create().update(sk.key.nonceKey).update(h).digest()) % L;
  const kBytes = numberToBytesLE(k, 32);
  write(SCALAR, sk.x);
  write(SCALAR2, kBytes);
  kBytes.fill(0);
  // Gamma = x*H, U = k*B, V = k*H
  const ok = mulNoclamp(GAMMA, SCALAR, H) && mulBaseNoclamp(U, SCALAR2) && mulNoclamp(V, SCALAR2, H);
  wipe(SCALAR);
  wipe(SCALAR2);
  // libsodium refuses a zero scalar: k = 0 (probability 2^-252), as the reference does.
  if (!ok) throw new VrfError('VRF prove: nonce or secret scalar is zero');
  const gamma = read(GAMMA);
  const cBytes = challengeBytes([pk, h, gamma, read(U), read(V)]);
  const s = (k + bytesToNumberLE(cBytes) * sk.key.scalar) % L;
  const pi = new Uint8Array(VRF_PROOF_BYTES);
  pi.set(gamma, 0);
  pi.set(cBytes, 32);
  pi.set(numberToBytesLE(s, 32), 48);
  return pi;
}

/** Per-key tables for c*Y; a directory has one key. */
const shortTables = new WeakMap<VrfPublicKey, ShortScalarTable>();

function shortTable(pk: VrfPublicKey): ShortScalarTable {
  let t = shortTables.get(pk);
  if (t === undefined) {
    t = new ShortScalarTable(pk.point);
    shortTables.set(pk, t);
  }
  return t;
}

/**
 * ECVRF_verify with libsodium: beta if `pi` is valid for `alpha`; throws VrfError if it is not
 * (libsodium accepted every input, so the challenge it recomputed is the reference's); returns
 * undefined when libsodium refuses an input (a Gamma outside the prime-order subgroup or not
 * canonical, a zero scalar, s >= L, ...): then only the reference can say whether the proof is
 * valid, and why not.
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
  encodeToCurve(pk.bytes, alpha);
  const h = read(H);
  write(SCALAR, sBytes);
  write(SCALAR2, cBytes);
  write(GAMMA, gamma);
  write(CY, shortTable(pk).multiply(cBytes).toBytes());
  // U = s*B - c*Y, V = s*H - c*Gamma
  const computed =
    mulBaseNoclamp(U, SCALAR) &&
    sub(U, U, CY) &&
    mulNoclamp(V, SCALAR, H) &&
    mulNoclamp(T, SCALAR2, GAMMA) &&
    sub(V, V, T);
  if (!computed) return undefined;
  if (!equalBytes(challengeBytes([pk.bytes, h, gamma, read(U), read(V)]), cBytes)) {
    throw new VrfError('VRF proof does not verify for this public key and input');
  }
  // 8*Gamma; Gamma is a point (libsodium multiplied it), so the additions succeed
  add(T, GAMMA, GAMMA);
  add(T, T, T);
  add(T, T, T);
  return outputFromCofactorGamma(view(T));
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
