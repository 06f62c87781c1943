// A test-only Authenticator: Ed25519 (@noble/curves) with per-member keys derived from a seed.
// Anyone who knows the seed can derive every key, so it proves nothing outside tests; the vault
// plugs in its HSM identity keys instead (same interface, keys that never leave the HSM).

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Authenticator, MemberId } from '../types.ts';

const te = new TextEncoder();

/** The deterministic test secret key of `member` under `seed`. */
export function testSecretKey(seed: string, member: MemberId): Uint8Array {
  return sha256(te.encode(`keyfleet raft test identity\0${seed}\0${member}`));
}

export function testPublicKey(seed: string, member: MemberId): Uint8Array {
  return ed25519.getPublicKey(testSecretKey(seed, member));
}

export class Ed25519TestAuthenticator implements Authenticator {
  private readonly self: MemberId;
  private readonly secretKey: Uint8Array;
  private readonly publicKeys: Map<MemberId, Uint8Array>;

  /** `publicKeys`: every configured member's key; `secretKey`: this member's own. */
  constructor(self: MemberId, secretKey: Uint8Array, publicKeys: ReadonlyMap<MemberId, Uint8Array>) {
    this.self = self;
    this.secretKey = secretKey;
    this.publicKeys = new Map(publicKeys);
  }

  /** The authenticator of `self` when every member in `members` uses its seed-derived test key. */
  static fromSeed(seed: string, self: MemberId, members: Iterable<MemberId>): Ed25519TestAuthenticator {
    const keys = new Map<MemberId, Uint8Array>();
    for (const m of members) keys.set(m, testPublicKey(seed, m));
    return new Ed25519TestAuthenticator(self, testSecretKey(seed, self), keys);
  }

  /** Makes a member (e.g. one being added) known; verify() refuses members without a key. */
  addMember(member: MemberId, publicKey: Uint8Array): void {
    this.publicKeys.set(member, publicKey);
  }

  sign(from: MemberId, body: Uint8Array): Uint8Array {
    if (from !== this.self) throw new Error(`member ${this.self} cannot sign as ${from}`);
    return ed25519.sign(body, this.secretKey);
  }

  verify(from: MemberId, body: Uint8Array, signature: Uint8Array): boolean {
    const key = this.publicKeys.get(from);
    if (!key || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, body, key);
    } catch {
      return false;
    }
  }
}
