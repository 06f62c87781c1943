// A test-only Authenticator with the vault's pairwise MACs (sdk/src/hsm/peer-mac.ts) and pair keys
// derived from a seed instead of from certified HSM agreement keys: the same per-message work as a
// vault member, without an HSM. Anyone who knows the seed can derive every key, so it proves
// nothing outside tests.

import type { KeyObject } from 'node:crypto';
import { peerMacKeyObject, peerMacTag, verifyPeerMacTag } from '@keyfleet/sdk/hsm/peer-mac';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Authenticator, MemberId } from '../types.ts';

const te = new TextEncoder();

/** The deterministic test key the pair {a, b} shares under `seed`. */
export function testPairKey(seed: string, a: MemberId, b: MemberId): Uint8Array {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return sha256(te.encode(`keyfleet raft test pair key\0${seed}\0${lo}\0${hi}`));
}

export class MacTestAuthenticator implements Authenticator {
  readonly #self: MemberId;
  readonly #seed: string;
  readonly #keys = new Map<MemberId, KeyObject>();

  /** The authenticator of `self`, accepting messages from `members` (more via addMember). */
  constructor(seed: string, self: MemberId, members: Iterable<MemberId>) {
    this.#seed = seed;
    this.#self = self;
    for (const m of members) this.addMember(m);
  }

  addMember(member: MemberId): void {
    if (member !== this.#self)
      this.#keys.set(member, peerMacKeyObject(testPairKey(this.#seed, this.#self, member)));
  }

  sign(from: MemberId, to: MemberId, body: Uint8Array): Uint8Array {
    if (from !== this.#self) throw new Error(`member ${this.#self} cannot sign as ${from}`);
    const key = this.#keys.get(to);
    if (!key) throw new Error(`no pair key for ${to}`);
    return peerMacTag(key, from, to, body);
  }

  verify(from: MemberId, to: MemberId, body: Uint8Array, tag: Uint8Array): boolean {
    const key = this.#keys.get(from);
    return to === this.#self && key !== undefined && verifyPeerMacTag(key, from, to, body, tag);
  }
}
