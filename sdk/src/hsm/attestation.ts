// Slot attestations: an HSM's statement, signed by its certified identity key, that a named slot
// holds a key with a given public part (an Ed25519 or X25519 public key, or the OPAQUE server
// public key of the fleet secret). The fleet-deployment attestation carries these so a verifier
// can tie the fleet's OPAQUE key to certified HSMs.

import { ByteReader, ByteWriter, DecodeError } from '../bytes.ts';
import { concatBytes } from './bytes.ts';
import { FLEET_ID_PATTERN, MEMBER_ID_PATTERN, SLOT_PATTERN } from './ids.ts';
import { Purpose, verifyWithPurpose } from './keys.ts';

export type SlotKind = 'ed25519' | 'x25519' | 'symmetric' | 'opaque-setup';
export const SLOT_KINDS: readonly SlotKind[] = ['ed25519', 'x25519', 'symmetric', 'opaque-setup'];

export const ATTESTATION_VERSION = 1;
export const MAX_ATTESTATION_NONCE = 64;

export interface SlotStatement {
  readonly fleet: string;
  readonly member: string;
  readonly slot: string;
  readonly kind: SlotKind;
  readonly publicKey: Uint8Array;
  /** Milliseconds since the epoch, by the HSM's clock. */
  readonly time: number;
  /** The verifier's challenge, echoed (0..64 bytes). */
  readonly nonce: Uint8Array;
}

export class AttestationError extends Error {
  override name = 'AttestationError';
}

export function slotKindCode(kind: SlotKind): number {
  const i = SLOT_KINDS.indexOf(kind);
  if (i < 0) throw new TypeError(`unknown slot kind ${kind}`);
  return i + 1;
}

export function slotKindFromCode(code: number): SlotKind | null {
  return SLOT_KINDS[code - 1] ?? null;
}

/** The bytes the identity key signs (Purpose.slotAttestation). */
export function slotStatementTbs(s: SlotStatement): Uint8Array {
  if (s.nonce.length > MAX_ATTESTATION_NONCE) throw new RangeError('attestation nonce is at most 64 bytes');
  return new ByteWriter(192)
    .u8(ATTESTATION_VERSION)
    .string8(s.fleet)
    .string8(s.member)
    .string8(s.slot)
    .u8(slotKindCode(s.kind))
    .bytes8(s.publicKey)
    .u64(s.time)
    .bytes8(s.nonce)
    .finish();
}

export function encodeSlotAttestation(s: SlotStatement, signature: Uint8Array): Uint8Array {
  return concatBytes(slotStatementTbs(s), signature);
}

/** Decodes and checks the signature against the attesting member's identity key; throws why not. */
export function verifySlotAttestation(bytes: Uint8Array, identityPublicKey: Uint8Array): SlotStatement {
  let statement: SlotStatement;
  let tbsLength: number;
  let signature: Uint8Array;
  try {
    ({ statement, tbsLength, signature } = decodeSlotAttestation(bytes));
  } catch (e) {
    if (e instanceof DecodeError) throw new AttestationError(`malformed slot attestation: ${e.message}`);
    throw e;
  }
  if (
    !verifyWithPurpose(identityPublicKey, Purpose.slotAttestation, bytes.subarray(0, tbsLength), signature)
  ) {
    throw new AttestationError('the attestation is not signed by the given identity key');
  }
  return statement;
}

function decodeSlotAttestation(bytes: Uint8Array): {
  statement: SlotStatement;
  tbsLength: number;
  signature: Uint8Array;
} {
  const r = new ByteReader(bytes);
  const version = r.u8('version');
  if (version !== ATTESTATION_VERSION) throw new DecodeError(`unsupported attestation version ${version}`);
  const fleet = r.string8('fleet', FLEET_ID_PATTERN);
  const member = r.string8('member', MEMBER_ID_PATTERN);
  const slot = r.string8('slot', SLOT_PATTERN);
  const kind = slotKindFromCode(r.u8('kind'));
  if (!kind) throw new DecodeError('unknown slot kind');
  const publicKey = r.bytes8('public key', 32, 32);
  const time = r.u64('time');
  const nonce = r.bytes8('nonce', MAX_ATTESTATION_NONCE);
  const tbsLength = r.offset;
  const signature = r.raw(64, 'signature');
  r.end('slot attestation');
  return { statement: { fleet, member, slot, kind, publicKey, time, nonce }, tbsLength, signature };
}
