// The Raft transport's Authenticator backed by the HSM's peer links: every peer message carries a
// MAC under the key this member's HSM shares with the recipient's HSM (sdk/src/hsm/peer-mac.ts),
// derived from the two members' certified X25519 agreement keys. A peer is linked only once its
// certificate verified inside the HSM (trust anchors, this fleet) and only while that certificate
// is valid, so a process without a certified agreement key cannot produce a tag any member
// accepts, and one member cannot produce a tag that passes for another's.

import type { Authenticator, MemberId } from '../raft/types.ts';
import type { SoftwareHsm } from './hsm.ts';

export class HsmAuthenticator implements Authenticator {
  readonly #hsm: SoftwareHsm;

  constructor(hsm: SoftwareHsm) {
    this.#hsm = hsm;
  }

  /** Verifies a member's certificate (this fleet, trusted CA, valid now) and accepts its messages. */
  trust(certificate: Uint8Array): MemberId {
    return this.#hsm.linkPeer(certificate);
  }

  /** True while the member is linked and its certificate is valid (else: learn it again). */
  isTrusted(member: MemberId): boolean {
    return this.#hsm.isPeerLinked(member);
  }

  /** Stops accepting a member's messages (it left the configuration). */
  forget(member: MemberId): void {
    this.#hsm.unlinkPeer(member);
  }

  sign(from: MemberId, to: MemberId, body: Uint8Array): Uint8Array {
    if (from !== this.#hsm.memberId) throw new Error(`member ${this.#hsm.memberId} cannot sign as ${from}`);
    return this.#hsm.peerMac(to, body);
  }

  verify(from: MemberId, to: MemberId, body: Uint8Array, tag: Uint8Array): boolean {
    return to === this.#hsm.memberId && this.#hsm.verifyPeerMac(from, body, tag);
  }
}
