/**
 * libsodium's edwards25519 functions called on its raw WASM exports, on a fixed scratch area of
 * its heap. The wrappers (libsodium-wrappers-sumo) allocate, copy and throw an Error per call,
 * which adds about a third to a point addition; a VRF verification makes a dozen such calls.
 *
 * Every function here takes and returns heap addresses (`Slot`s) and reports libsodium's
 * refusal as `false`, never by throwing. Secret scalars written to a slot must be wiped with
 * `wipe` after use. Single-threaded: each worker thread has its own module and scratch area.
 */
import sodium from 'libsodium-wrappers-sumo';

await sodium.ready;

interface RawSodium {
  readonly HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _crypto_core_ed25519_add(r: number, p: number, q: number): number;
  _crypto_core_ed25519_sub(r: number, p: number, q: number): number;
  _crypto_scalarmult_ed25519_noclamp(q: number, n: number, p: number): number;
  _crypto_scalarmult_ed25519_base_noclamp(q: number, n: number): number;
}

const raw = (sodium as unknown as { libsodium: RawSodium }).libsodium;
for (const f of [
  '_malloc',
  '_crypto_core_ed25519_add',
  '_crypto_core_ed25519_sub',
  '_crypto_scalarmult_ed25519_noclamp',
  '_crypto_scalarmult_ed25519_base_noclamp',
] as const) {
  if (typeof raw?.[f] !== 'function') throw new Error(`libsodium-wrappers-sumo: raw module lacks ${f}`);
}

/** The heap address of a 32-byte scratch value. */
export type Slot = number;

const SLOTS = 8;
const base = raw._malloc(32 * SLOTS);
/** The scratch slots (points or scalars); which function uses which is fixed in libsodium.ts. */
export const slots: readonly Slot[] = Array.from({ length: SLOTS }, (_, i) => base + 32 * i);

// HEAPU8 is re-read on every access: emscripten replaces it when the heap grows.
export function write(slot: Slot, bytes: Uint8Array): void {
  if (bytes.length > 32) throw new RangeError('sodium heap: at most 32 bytes per slot');
  const heap = raw.HEAPU8;
  heap.set(bytes, slot);
  heap.fill(0, slot + bytes.length, slot + 32);
}

export function read(slot: Slot): Uint8Array {
  return raw.HEAPU8.slice(slot, slot + 32);
}

/** A view of the slot (valid until the next libsodium call that may grow the heap). */
export function view(slot: Slot): Uint8Array {
  return raw.HEAPU8.subarray(slot, slot + 32);
}

export function wipe(slot: Slot): void {
  raw.HEAPU8.fill(0, slot, slot + 32);
}

/** r = p + q; false if p or q is not a point on the curve. Slots may alias. */
export const add = (r: Slot, p: Slot, q: Slot): boolean => raw._crypto_core_ed25519_add(r, p, q) === 0;

/** r = p - q; false if p or q is not a point on the curve. Slots may alias. */
export const sub = (r: Slot, p: Slot, q: Slot): boolean => raw._crypto_core_ed25519_sub(r, p, q) === 0;

/**
 * r = n*p (constant time in n); false if p is not a canonical point of the prime-order
 * subgroup, n is zero or the product is the identity.
 */
export const mulNoclamp = (r: Slot, n: Slot, p: Slot): boolean =>
  raw._crypto_scalarmult_ed25519_noclamp(r, n, p) === 0;

/** r = n*B (constant time in n); false if n is zero (mod L). */
export const mulBaseNoclamp = (r: Slot, n: Slot): boolean =>
  raw._crypto_scalarmult_ed25519_base_noclamp(r, n) === 0;
