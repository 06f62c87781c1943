// A test-only Authenticator: Ed25519 with per-member keys derived from a seed. Anyone who knows
// the seed can derive every key, so it proves nothing outside tests; the vault plugs in its HSM
// identity keys instead (same interface, keys that never leave the HSM).
//
// Two interchangeable backends compute the same (deterministic) signatures: @noble/curves, the
// project's audited pure-JS default, and node:crypto (OpenSSL), ~20x faster per operation here.
// Each envelope is signed once and verified once, so on a seven-member fleet the leader does a
// dozen Ed25519 operations per replication round: the backend shows in the benchmark.

import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as osslSign,
  verify as osslVerify,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Authenticator, MemberId } from '../types.ts';

export type Ed25519Backend = 'noble' | 'openssl';

const te = new TextEncoder();
// DER prefixes of an Ed25519 PKCS#8 private key (RFC 8410) and SubjectPublicKeyInfo.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The deterministic test secret key of `member` under `seed`. */
export function testSecretKey(seed: string, member: MemberId): Uint8Array {
  return sha256(te.encode(`keyfleet raft test identity\0${seed}\0${member}`));
}

export function testPublicKey(seed: string, member: MemberId): Uint8Array {
  return ed25519.getPublicKey(testSecretKey(seed, member));
}

export class Ed25519TestAuthenticator implements Authenticator {
  private readonly self: MemberId;
  private readonly backend: Ed25519Backend;
  private readonly secretKey: Uint8Array;
  private readonly secretKeyObject: KeyObject;
  private readonly publicKeys = new Map<MemberId, { raw: Uint8Array; object: KeyObject }>();

  /** `publicKeys`: every configured member's key; `secretKey`: this member's own. */
  constructor(
    self: MemberId,
    secretKey: Uint8Array,
    publicKeys: ReadonlyMap<MemberId, Uint8Array>,
    backend: Ed25519Backend = 'noble',
  ) {
    this.self = self;
    this.backend = backend;
    this.secretKey = secretKey;
    this.secretKeyObject = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, secretKey]),
      format: 'der',
      type: 'pkcs8',
    });
    for (const [m, k] of publicKeys) this.addMember(m, k);
  }

  /** The authenticator of `self` when every member in `members` uses its seed-derived test key. */
  static fromSeed(
    seed: string,
    self: MemberId,
    members: Iterable<MemberId>,
    backend: Ed25519Backend = 'noble',
  ): Ed25519TestAuthenticator {
    const keys = new Map<MemberId, Uint8Array>();
    for (const m of members) keys.set(m, testPublicKey(seed, m));
    return new Ed25519TestAuthenticator(self, testSecretKey(seed, self), keys, backend);
  }

  /** Makes a member (e.g. one being added) known; verify() refuses members without a key. */
  addMember(member: MemberId, publicKey: Uint8Array): void {
    if (publicKey.length !== 32) throw new Error(`Ed25519 public key of ${member} must be 32 bytes`);
    const object = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    this.publicKeys.set(member, { raw: publicKey, object });
  }

  /** A signature by `from` (its envelope names the recipient, so `to` is not needed here). */
  sign(from: MemberId, _to: MemberId, body: Uint8Array): Uint8Array {
    if (from !== this.self) throw new Error(`member ${this.self} cannot sign as ${from}`);
    return this.backend === 'noble'
      ? ed25519.sign(body, this.secretKey)
      : new Uint8Array(osslSign(null, body, this.secretKeyObject));
  }

  verify(from: MemberId, _to: MemberId, body: Uint8Array, signature: Uint8Array): boolean {
    const key = this.publicKeys.get(from);
    if (!key || signature.length !== 64) return false;
    try {
      return this.backend === 'noble'
        ? ed25519.verify(signature, body, key.raw)
        : osslVerify(null, body, key.object, signature);
    } catch {
      return false;
    }
  }
}
