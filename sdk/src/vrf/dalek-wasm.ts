/**
 * The curve25519-dalek WASM module (sdk/wasm/curve25519, built by scripts/build-curve-wasm.sh to
 * sdk/wasm/dist/curve25519.wasm), loaded synchronously at import. `dalekCurve` is undefined when
 * the file is absent (no Rust toolchain where the sdk was installed): the sdk then uses the
 * libsodium backend (backend.ts decides).
 *
 * The module works on one static 256-byte buffer of 32-byte slots (see src/lib.rs); every
 * export returns 1 on success and 0 when a point does not decode. Single-threaded: each worker
 * thread instantiates its own module.
 */
import { readFileSync } from 'node:fs';

/** The .wasm path, next to the sdk sources (sdk/wasm/dist). */
export const DALEK_WASM_PATH = new URL('../../wasm/dist/curve25519.wasm', import.meta.url);

/** Slot offsets in the buffer, as src/lib.rs defines them. */
export const OUT = 0;
export const S = 32;
export const P = 64;
export const C = 96;
export const Q = 128;

// The tsconfig's lib has no WebAssembly types (no DOM lib): the little this file uses.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface DalekExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  buf(): number;
  /** OUT = s*P, constant time in s; wipes S. */
  mul(): number;
  /** OUT = s*B, constant time in s; wipes S. */
  mul_base(): number;
  /** OUT = s*P - c*Q, variable time. */
  sub_mul_vartime(): number;
  /** OUT = s*B - c*Q, variable time. */
  sub_mul_base_vartime(): number;
  /** OUT = 8*P; 2 if that is the identity. */
  mul_by_cofactor(): number;
}

export interface DalekCurve {
  readonly exports: DalekExports;
  /** The buffer (re-viewed if the module's memory grew, which detaches the old view). */
  buffer(): Uint8Array;
}

const EXPORTS = [
  'buf',
  'mul',
  'mul_base',
  'sub_mul_vartime',
  'sub_mul_base_vartime',
  'mul_by_cofactor',
] as const;

function load(): DalekCurve | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(DALEK_WASM_PATH);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const exports = new wasm.Instance(new wasm.Module(bytes), {}).exports as unknown as DalekExports;
  for (const f of EXPORTS) {
    if (typeof exports[f] !== 'function') throw new Error(`${DALEK_WASM_PATH.pathname}: module lacks ${f}`);
  }
  const at = exports.buf();
  let view = new Uint8Array(exports.memory.buffer, at, 256);
  return {
    exports,
    buffer() {
      if (view.byteLength === 0) view = new Uint8Array(exports.memory.buffer, at, 256);
      return view;
    },
  };
}

/** The loaded module, or undefined if sdk/wasm/dist/curve25519.wasm is absent. */
export const dalekCurve: DalekCurve | undefined = load();
