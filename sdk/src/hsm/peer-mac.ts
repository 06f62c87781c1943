// Pairwise message authentication between the members of a fleet. Each pair of members shares
// one HMAC-SHA256 key, which each side's HSM derives by itself from its own X25519 agreement key
// and the other's certified agreement key (static-static X25519, then HKDF bound to the fleet and
// to both members' ids and agreement keys), so the key is never sent and never leaves either HSM.
//
// Why a MAC and not a signature per message: a replication round of a seven-member fleet is a
// dozen peer messages at the leader alone; Ed25519 cost it ~3 ms of CPU per round (measured), an
// HMAC a few microseconds. Raft needs only that the *recipient* knows who sent a message; the
// one thing a MAC gives up, convincing a third party, no peer message needs.
//
// The tag covers the sender and the recipient, in that order, so a message cannot be reflected
// back to its sender or passed for one in the other direction; the message itself is a digest
// made under its own domain tag by the caller (Raft envelope, forwarded request), which keeps one
// kind of message from passing for another.

import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { context } from './aead.ts';
import { ctEqual } from './bytes.ts';

export const PEER_MAC_KEY_BYTES = 32;
export const PEER_MAC_BYTES = 32;

const KEY_SALT = new TextEncoder().encode('keyfleet/v1 peer-mac key');

/** One side of a pair: a member id and its certified X25519 agreement public key. */
export interface PeerAgreement {
  readonly member: string;
  readonly agreementPublicKey: Uint8Array;
}

/**
 * The key members `a` and `b` of `fleet` share, from the X25519 secret of their agreement keys.
 * Symmetric in `a` and `b`: both sides list the pair in the same (sorted) order.
 */
export function derivePeerMacKey(
  sharedSecret: Uint8Array,
  fleet: string,
  a: PeerAgreement,
  b: PeerAgreement,
): Uint8Array {
  if (a.member === b.member) throw new Error('a peer MAC key needs two different members');
  const [lo, hi] = a.member < b.member ? [a, b] : [b, a];
  const info = context('peer-mac', fleet, lo.member, lo.agreementPublicKey, hi.member, hi.agreementPublicKey);
  return hkdf(sha256, sharedSecret, KEY_SALT, info, PEER_MAC_KEY_BYTES);
}

/**
 * The derived key as the KeyObject peerMacTag takes, wiping `raw`. (node:crypto turns a raw key
 * into a KeyObject on every createHmac, which costs four times the HMAC itself.)
 */
export function peerMacKeyObject(raw: Uint8Array): KeyObject {
  try {
    return createSecretKey(raw);
  } finally {
    raw.fill(0);
  }
}

/**
 * HMAC-SHA256 over (sender, recipient, message), canonically encoded. OpenSSL's HMAC (node:crypto)
 * rather than @noble's: one per peer message, and the pure-JS one was 9 % of a busy leader's CPU.
 */
export function peerMacTag(key: KeyObject, from: string, to: string, message: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', key)
      .update(context('peer-mac', from, to, message))
      .digest(),
  );
}

/** Constant-time check of a tag made by `from` for `to`. */
export function verifyPeerMacTag(
  key: KeyObject,
  from: string,
  to: string,
  message: Uint8Array,
  tag: Uint8Array,
): boolean {
  return tag.length === PEER_MAC_BYTES && ctEqual(peerMacTag(key, from, to, message), tag);
}
