// The pairwise MAC keys this HSM shares with the other members' HSMs (sdk/src/hsm/peer-mac.ts).
// A key comes into being when a peer's certificate, already verified by the HSM against its trust
// anchors and this fleet, is linked: X25519 of this HSM's agreement key with the certified
// agreement key, then HKDF. It is held here only, used while the certificate is valid, and dropped
// when the peer is unlinked. Part of the HSM module: nothing here returns a key.

import type { KeyObject } from 'node:crypto';
import type { Certificate } from '@keyfleet/sdk/hsm/certificate';
import { x25519SharedSecret } from '@keyfleet/sdk/hsm/keys';
import { derivePeerMacKey, peerMacKeyObject, peerMacTag, verifyPeerMacTag } from '@keyfleet/sdk/hsm/peer-mac';

/** A fleet has a handful of members; certified ones beyond this evict the oldest link. */
const MAX_LINKS = 64;

interface Link {
  readonly key: KeyObject;
  /** Seconds since the epoch: the certificate's end of validity. */
  readonly notAfter: number;
}

export interface PeerLinksOptions {
  readonly fleet: string;
  readonly member: string;
  readonly agreement: () => { readonly key: KeyObject; readonly publicKey: Uint8Array };
}

export class PeerLinkError extends Error {
  override name = 'PeerLinkError';
}

export class PeerLinks {
  readonly #o: PeerLinksOptions;
  readonly #links = new Map<string, Link>();

  constructor(o: PeerLinksOptions) {
    this.#o = o;
  }

  /** Derives and holds the key shared with the subject of `cert` (verified by the caller). */
  link(cert: Certificate): void {
    const peer = cert.subject.member;
    if (cert.subject.fleet !== this.#o.fleet)
      throw new PeerLinkError(`${peer} is not in fleet ${this.#o.fleet}`);
    if (peer === this.#o.member) throw new PeerLinkError('a member does not link to itself');
    const own = this.#o.agreement();
    const shared = x25519SharedSecret(own.key, cert.agreementPublicKey);
    try {
      const key = peerMacKeyObject(
        derivePeerMacKey(
          shared,
          this.#o.fleet,
          { member: this.#o.member, agreementPublicKey: own.publicKey },
          { member: peer, agreementPublicKey: cert.agreementPublicKey },
        ),
      );
      this.unlink(peer);
      if (this.#links.size >= MAX_LINKS) this.unlink(this.#links.keys().next().value as string);
      this.#links.set(peer, { key, notAfter: cert.notAfter });
    } finally {
      shared.fill(0);
    }
  }

  /** Forgets the key (a KeyObject's bytes are OpenSSL's to free once unreferenced). */
  unlink(peer: string): boolean {
    return this.#links.delete(peer);
  }

  isLinked(peer: string, nowSeconds: number): boolean {
    const link = this.#links.get(peer);
    return link !== undefined && nowSeconds <= link.notAfter;
  }

  /** The tag of `message` from this member to `to`; throws unless `to` is linked and valid. */
  tag(to: string, message: Uint8Array, nowSeconds: number): Uint8Array {
    const link = this.#links.get(to);
    if (!link) throw new PeerLinkError(`no link to ${to}: its certificate has not been verified`);
    if (nowSeconds > link.notAfter) throw new PeerLinkError(`the certificate of ${to} has expired`);
    return peerMacTag(link.key, this.#o.member, to, message);
  }

  /** True only for a tag that `from`, linked and valid, made for this member over `message`. */
  check(from: string, message: Uint8Array, tag: Uint8Array, nowSeconds: number): boolean {
    const link = this.#links.get(from);
    if (!link || nowSeconds > link.notAfter) return false;
    return verifyPeerMacTag(link.key, from, this.#o.member, message, tag);
  }
}
