//! edwards25519 arithmetic for the ECVRF (RFC 9381, ECVRF-EDWARDS25519-SHA512-TAI) hot paths
//! of sdk/src/vrf/dalek.ts: curve25519-dalek's multiplications are about twice as fast in
//! WASM as libsodium's `crypto_scalarmult_ed25519_noclamp` (which also pays a subgroup check
//! per call), and dalek offers what libsodium lacks: variable-time double multiplication of
//! arbitrary curve points and a bare cofactor multiplication.
//!
//! API: one static 256-byte buffer (`buf()`), fixed 32-byte slots, no allocation per call
//! (dalek's multiscalar code allocates a little in `vartime_multiscalar_mul`; see below).
//!   slot 0 (OUT)  result point encoding
//!   slot 1 (S)    scalar s (little-endian; reduced mod L here — TS refuses s >= L first)
//!   slot 2 (P)    point P
//!   slot 3 (C)    scalar c
//!   slot 4 (Q)    point Q
//! Every export returns 1 on success, 0 when a point does not decode.
//!
//! Decoding is RFC 8032 strict, as @noble's `Point.fromBytes(bytes, false)` (the reference):
//! dalek's decompress accepts y >= p and x = 0 with the sign bit set, so a point is accepted
//! only if it re-encodes to the same 32 bytes. Points outside the prime-order subgroup are
//! accepted (RFC 9381 verification works in the full group; the cofactor is cleared where the
//! RFC says).
//!
//! Constant time in the scalar: `mul` and `mul_base` (secret x and nonce k); they wipe slot S.
//! Variable time: `sub_mul_vartime` and `sub_mul_base_vartime` (verification: s, c public).
//! They negate the point, not the scalar: scalars are reduced mod L, and (L - c)*Q differs
//! from -c*Q when Q has a torsion component (a forged Y or Gamma); the verdicts must be the
//! reference's in the full group.
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};

const OUT: usize = 0;
const S: usize = 32;
const P: usize = 64;
const C: usize = 96;
const Q: usize = 128;

static mut BUF: [u8; 256] = [0; 256];

/// The address of the buffer in linear memory.
#[no_mangle]
pub extern "C" fn buf() -> *mut u8 {
    unsafe { core::ptr::addr_of_mut!(BUF) as *mut u8 }
}

fn read(at: usize) -> [u8; 32] {
    let mut a = [0u8; 32];
    unsafe { a.copy_from_slice(&BUF[at..at + 32]) };
    a
}

fn write_point(p: &EdwardsPoint) {
    unsafe { BUF[OUT..OUT + 32].copy_from_slice(p.compress().as_bytes()) };
}

fn wipe(at: usize) {
    // volatile writes: the compiler must not drop the wipe of a secret scalar
    for i in at..at + 32 {
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!(BUF[i]), 0) };
    }
}

/// RFC 8032 strict decoding: canonical y (< p), and no "negative zero" x.
fn decode(at: usize) -> Option<EdwardsPoint> {
    let bytes = read(at);
    let p = CompressedEdwardsY(bytes).decompress()?;
    if p.compress().to_bytes() == bytes {
        Some(p)
    } else {
        None
    }
}

fn scalar(at: usize) -> Scalar {
    Scalar::from_bytes_mod_order(read(at))
}

/// OUT = s*P, constant time in s; wipes S.
#[no_mangle]
pub extern "C" fn mul() -> i32 {
    let p = decode(P);
    let s = scalar(S);
    wipe(S);
    match p {
        Some(p) => {
            write_point(&(s * p));
            1
        }
        None => 0,
    }
}

/// OUT = s*B (B the RFC 8032 base point, precomputed table), constant time in s; wipes S.
#[no_mangle]
pub extern "C" fn mul_base() -> i32 {
    let s = scalar(S);
    wipe(S);
    write_point(&(ED25519_BASEPOINT_TABLE * &s));
    1
}

/// OUT = s*P - c*Q, variable time (verification: V = s*H - c*Gamma).
#[no_mangle]
pub extern "C" fn sub_mul_vartime() -> i32 {
    match (decode(P), decode(Q)) {
        (Some(p), Some(q)) => {
            let r = EdwardsPoint::vartime_multiscalar_mul([scalar(S), scalar(C)], [p, -q]);
            write_point(&r);
            1
        }
        _ => 0,
    }
}

/// OUT = s*B - c*Q, variable time (verification: U = s*B - c*Y).
#[no_mangle]
pub extern "C" fn sub_mul_base_vartime() -> i32 {
    match decode(Q) {
        Some(q) => {
            let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&scalar(C), &-q, &scalar(S));
            write_point(&r);
            1
        }
        None => 0,
    }
}

/// OUT = 8*P. Returns 0 if P does not decode, 2 if 8*P is the identity (a small-order P:
/// try-and-increment skips such candidates), 1 otherwise.
#[no_mangle]
pub extern "C" fn mul_by_cofactor() -> i32 {
    match decode(P) {
        Some(p) => {
            let r = p.mul_by_cofactor();
            write_point(&r);
            if r.is_identity() {
                2
            } else {
                1
            }
        }
        None => 0,
    }
}
