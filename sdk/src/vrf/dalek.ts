/**
 * ECVRF-EDWARDS25519-SHA512-TAI with the curve arithmetic done by curve25519-dalek (WASM,
 * dalek-wasm.ts), for the hot paths: publishers derive a VRF label per leaf, clients verify
 * three VRF proofs per lookup. Same functions and bytes as libsodium.ts and the @noble
 * reference (ecvrf.ts); dalek.test.ts cross-checks them on RFC 9381 vectors, random and
 * adversarial inputs.
 *
 * Unlike libsodium, dalek decodes and multiplies any curve point (strict RFC 8032 decoding is
 * enforced in src/lib.rs by re-encoding), so verification never falls back to the reference:
 *   - try-and-increment: `mul_by_cofactor` on each candidate (0: does not decode, 2: small order);
 *   - prover and label derivation: constant-time x*H, k*B, k*H (the module wipes the scalar);
 *   - verifier: U = s*B - c*Y and V = s*H - c*Gamma, variable time (s, c, Y, Gamma are public),
 *     in the full group as RFC 9381 says, then 8*Gamma for the output.
 * The nonce k and s = k + c*x mod L use BigInt, as ecvrf.ts and libsodium.ts do.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, equalBytes, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { C, type DalekCurve, dalekCurve, OUT, P, Q, S } from './dalek-wasm.ts';
import {
  challengeBytes,
  encodeToCurvePrefix,
  outputFromCofactorGamma,
  VRF_PROOF_BYTES,
  VrfError,
  type VrfPublicKey,
  type VrfSecretKey,
  vrfPublicKey,
} from './ecvrf.ts';
import { keyScalars } from './key-scalars.ts';

const L: bigint = ed25519.Point.CURVE().n;

function curve(): DalekCurve {
  if (dalekCurve === undefined) {
    throw new Error(
      'dalek VRF backend: sdk/wasm/dist/curve25519.wasm is missing (run scripts/build-curve-wasm.sh)',
    );
  }
  return dalekCurve;
}

function out(buf: Uint8Array): Uint8Array {
  return buf.slice(OUT, OUT + 32);
}

/** ECVRF_encode_to_curve_try_and_increment: the encoding of H. */
export function encodeToCurveTaiBytesDalek(publicKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { exports, buffer } = curve();
  const prefix = encodeToCurvePrefix(publicKey, alpha);
  const suffix = new Uint8Array(2);
  for (let ctr = 0; ctr < 256; ctr++) {
    suffix[0] = ctr;
    const candidate = sha512.create().update(prefix).update(suffix).digest().subarray(0, 32);
    buffer().set(candidate, P);
    if (exports.mul_by_cofactor() === 1) return out(buffer());
  }
  // Probability 2^-256; RFC 9381 says to output an error.
  throw new VrfError('encode_to_curve: no valid point after 256 attempts');
}

/** s*P in OUT, constant time in the secret s (the module wipes it from S). */
function mulSecret(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  const { exports, buffer } = curve();
  const buf = buffer();
  buf.set(scalar, S);
  buf.set(point, P);
  // P is an H from encodeToCurve: it decodes
  if (exports.mul() !== 1) throw new VrfError('dalek: point does not decode');
  return out(buffer());
}

/** = vrfEvaluate: the 64-byte output for `alpha`, without a proof. */
export function vrfEvaluateDalek(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const s = keyScalars(secretKey);
  const h = encodeToCurveTaiBytesDalek(s.key.publicKey.bytes, alpha);
  return outputFromCofactorGamma(mulSecret(s.eightX, h));
}

/** = vrfProve: the same 80 bytes (the proof is deterministic). */
export function vrfProveDalek(secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array): Uint8Array {
  const sk = keyScalars(secretKey);
  const pk = sk.key.publicKey.bytes;
  const h = encodeToCurveTaiBytesDalek(pk, alpha);
  const k = bytesToNumberLE(sha512.create().update(sk.key.nonceKey).update(h).digest()) % L;
  if (k === 0n) throw new VrfError('VRF prove: nonce is zero'); // probability 2^-252, as ecvrf.ts
  const kBytes = numberToBytesLE(k, 32);
  const gamma = mulSecret(sk.x, h);
  const { exports, buffer } = curve();
  buffer().set(kBytes, S);
  exports.mul_base();
  const u = out(buffer());
  const v = mulSecret(kBytes, h);
  kBytes.fill(0);
  const cBytes = challengeBytes([pk, h, gamma, u, v]);
  const s = (k + bytesToNumberLE(cBytes) * sk.key.scalar) % L;
  const pi = new Uint8Array(VRF_PROOF_BYTES);
  pi.set(gamma, 0);
  pi.set(cBytes, 32);
  pi.set(numberToBytesLE(s, 32), 48);
  return pi;
}

/** = vrfVerify: beta if `pi` is valid for `alpha`, else throws VrfError (the same verdicts). */
export function vrfVerifyDalek(
  publicKey: Uint8Array | VrfPublicKey,
  pi: Uint8Array,
  alpha: Uint8Array,
): Uint8Array {
  const pk = vrfPublicKey(publicKey);
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_BYTES) {
    throw new VrfError(
      `VRF proof: expected ${VRF_PROOF_BYTES} bytes, got ${pi instanceof Uint8Array ? pi.length : typeof pi}`,
    );
  }
  const gamma = pi.subarray(0, 32);
  const cBytes = pi.subarray(32, 48);
  const sBytes = pi.subarray(48, 80);
  const { exports, buffer } = curve();
  // Gamma first, as the reference: its decoding error wins over s >= L
  buffer().set(gamma, P);
  if (exports.mul_by_cofactor() === 0) {
    throw new VrfError('VRF proof Gamma: not a canonical edwards25519 point encoding');
  }
  const eightGamma = out(buffer());
  if (bytesToNumberLE(sBytes) >= L) throw new VrfError('VRF proof: scalar s is not reduced (s >= L)');
  const h = encodeToCurveTaiBytesDalek(pk.bytes, alpha);
  let buf = buffer();
  buf.set(sBytes, S);
  buf.fill(0, C, C + 32);
  buf.set(cBytes, C);
  buf.set(pk.bytes, Q);
  // U = s*B - c*Y (Y decoded by vrfPublicKey: it decodes)
  if (exports.sub_mul_base_vartime() !== 1) throw new VrfError('VRF public key: does not decode');
  buf = buffer();
  const u = out(buf);
  // V = s*H - c*Gamma (S and C are unchanged by the vartime exports)
  buf.set(h, P);
  buf.set(gamma, Q);
  if (exports.sub_mul_vartime() !== 1) throw new VrfError('VRF proof Gamma: does not decode');
  const v = out(buffer());
  if (!equalBytes(challengeBytes([pk.bytes, h, gamma, u, v]), cBytes)) {
    throw new VrfError('VRF proof does not verify for this public key and input');
  }
  return outputFromCofactorGamma(eightGamma);
}
