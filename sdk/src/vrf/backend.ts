/**
 * The one place the sdk picks its fast ECVRF backend: curve25519-dalek (dalek.ts) when
 * sdk/wasm/dist/curve25519.wasm was built (scripts/build-curve-wasm.sh), else libsodium
 * (libsodium.ts), so the sdk works without a Rust toolchain. Both give the reference's bytes
 * and verdicts (dalek.test.ts, libsodium.test.ts). Callers (akd/vrf-labels.ts, the directory
 * publisher through it) use only these exports.
 */

import { vrfEvaluateDalek, vrfProveDalek, vrfVerifyDalek } from './dalek.ts';
import { dalekCurve } from './dalek-wasm.ts';
import type { VrfPublicKey, VrfSecretKey } from './ecvrf.ts';
import { vrfEvaluateLibsodium, vrfProveLibsodium, vrfVerifyLibsodium } from './libsodium.ts';

/** Which backend the exports below run on. */
export const vrfBackend: 'dalek' | 'libsodium' = dalekCurve === undefined ? 'libsodium' : 'dalek';

const useDalek = vrfBackend === 'dalek';

/** = vrfEvaluate on the active backend. */
export const vrfEvaluateFast: (secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array) => Uint8Array =
  useDalek ? vrfEvaluateDalek : vrfEvaluateLibsodium;

/** = vrfProve on the active backend. */
export const vrfProveFast: (secretKey: Uint8Array | VrfSecretKey, alpha: Uint8Array) => Uint8Array = useDalek
  ? vrfProveDalek
  : vrfProveLibsodium;

/** = vrfVerify on the active backend. */
export const vrfVerifyFast: (
  publicKey: Uint8Array | VrfPublicKey,
  pi: Uint8Array,
  alpha: Uint8Array,
) => Uint8Array = useDalek ? vrfVerifyDalek : vrfVerifyLibsodium;
