// Key slots at rest. Each slot is one file, `slots/<name>.slot`:
//
//   "KFHS" | u8 version (1) | u8 kind | nonce (24) | XChaCha20-Poly1305 ciphertext of the key
//
// under the sealing key HKDF(wrapping key, "keyfleet/v1/hsm-slot-seal"), with associated data
// (fleet, member, slot name, version, kind). The wrapping key comes from a file the pod mounts from
// a Kubernetes Secret. Because fleet and member are authenticated, a slot file copied to another
// member (or fleet) does not open there, even when both were given the same wrapping key; because
// the slot name and kind are, a file renamed or relabelled does not open either.

import { readFileSync } from 'node:fs';
import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal, context, deriveKey } from '@keyfleet/sdk/hsm/aead';
import { type SlotKind, slotKindCode, slotKindFromCode } from '@keyfleet/sdk/hsm/attestation';

const MAGIC = new TextEncoder().encode('KFHS');
const VERSION = 1;
export const WRAPPING_KEY_BYTES = 32;

/** The secret's length for each kind: seeds and scalars of 32 bytes; the OPAQUE ServerSetup. */
export const SECRET_BYTES: Readonly<Record<SlotKind, number>> = {
  ed25519: 32,
  x25519: 32,
  symmetric: 32,
  'opaque-setup': 128,
};

export interface SlotBinding {
  readonly fleet: string;
  readonly member: string;
  readonly slot: string;
}

export class SealedSlotError extends Error {
  override name = 'SealedSlotError';
}

/**
 * Reads the wrapping key file (exactly 32 raw bytes, as a Secret's data decodes to) and returns the
 * sealing key derived from it. The raw key is wiped from memory before returning.
 */
export function readSealingKey(path: string): Uint8Array {
  const raw = readFileSync(path);
  try {
    if (raw.length !== WRAPPING_KEY_BYTES) {
      throw new SealedSlotError(
        `wrapping key file ${path} holds ${raw.length} bytes; it must hold exactly ${WRAPPING_KEY_BYTES} raw bytes (e.g. \`head -c 32 /dev/urandom\` into a Secret)`,
      );
    }
    return deriveKey(raw, 'keyfleet/v1', context('hsm-slot-seal'));
  } finally {
    raw.fill(0);
  }
}

function associatedData(b: SlotBinding, kind: SlotKind): Uint8Array {
  return new ByteWriter(160)
    .string8('keyfleet/v1/hsm-slot')
    .string8(b.fleet)
    .string8(b.member)
    .string8(b.slot)
    .u8(VERSION)
    .u8(slotKindCode(kind))
    .finish();
}

export function sealSlot(
  sealingKey: Uint8Array,
  b: SlotBinding,
  kind: SlotKind,
  secret: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  if (secret.length !== SECRET_BYTES[kind])
    throw new RangeError(`a ${kind} secret is ${SECRET_BYTES[kind]} bytes`);
  if (nonce.length !== AEAD_NONCE_BYTES) throw new RangeError('nonce must be 24 bytes');
  return new ByteWriter(200)
    .raw(MAGIC)
    .u8(VERSION)
    .u8(slotKindCode(kind))
    .raw(nonce)
    .raw(aeadSeal(sealingKey, nonce, associatedData(b, kind), secret))
    .finish();
}

/** Opens a sealed slot file; throws SealedSlotError saying why it cannot be opened. */
export function openSlot(
  sealingKey: Uint8Array,
  b: SlotBinding,
  file: Uint8Array,
): { kind: SlotKind; secret: Uint8Array } {
  let kind: SlotKind;
  let nonce: Uint8Array;
  let ciphertext: Uint8Array;
  try {
    const r = new ByteReader(file);
    const magic = r.raw(4, 'magic');
    if (magic.some((x, i) => x !== MAGIC[i])) throw new DecodeError('not a keyfleet sealed slot file');
    const version = r.u8('version');
    if (version !== VERSION) throw new DecodeError(`unsupported version ${version}`);
    const k = slotKindFromCode(r.u8('kind'));
    if (!k) throw new DecodeError('unknown slot kind');
    kind = k;
    nonce = r.raw(AEAD_NONCE_BYTES, 'nonce');
    ciphertext = r.raw(r.remaining, 'ciphertext');
  } catch (e) {
    if (e instanceof DecodeError) throw new SealedSlotError(`slot ${b.slot}: ${e.message}`);
    throw e;
  }
  const secret = aeadOpen(sealingKey, nonce, associatedData(b, kind), ciphertext);
  if (!secret || secret.length !== SECRET_BYTES[kind]) {
    throw new SealedSlotError(
      `slot ${b.slot}: authentication failed; the file was sealed under another wrapping key, for another fleet, member or slot name, or it was modified`,
    );
  }
  return { kind, secret };
}
