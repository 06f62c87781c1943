// The Raft transport's Authenticator backed by HSM identity keys: this member signs with its
// identity slot (Purpose.raftMessage, bound to the sender id); a peer's signature is accepted only
// under the identity key of a certificate that verified against the trust anchors for this fleet
// and that member, and only while that certificate is valid. A process without a certified
// identity cannot produce a message any member accepts.

import { ByteWriter } from '@keyfleet/sdk/bytes';
import { verifyCertificate } from '@keyfleet/sdk/hsm/certificate';
import { Purpose, verifyWithPurpose } from '@keyfleet/sdk/hsm/keys';
import type { Authenticator, MemberId } from '../raft/types.ts';
import { IDENTITY_SLOT, type SoftwareHsm } from './hsm.ts';

export interface HsmAuthenticatorOptions {
  readonly trustAnchors: readonly Uint8Array[];
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

function signed(from: MemberId, body: Uint8Array): Uint8Array {
  return new ByteWriter(body.length + 80).string8(from).raw(body).finish();
}

export class HsmAuthenticator implements Authenticator {
  readonly #hsm: SoftwareHsm;
  readonly #o: HsmAuthenticatorOptions;
  readonly #peers = new Map<MemberId, { readonly key: Uint8Array; readonly notAfter: number }>();

  constructor(hsm: SoftwareHsm, o: HsmAuthenticatorOptions) {
    this.#hsm = hsm;
    this.#o = o;
  }

  #nowSeconds(): number {
    return Math.floor((this.#o.now ?? Date.now)() / 1000);
  }

  /** Verifies a member's certificate (this fleet, trusted CA, valid now) and accepts its messages. */
  trust(certificate: Uint8Array): MemberId {
    const cert = verifyCertificate(certificate, {
      trustAnchors: this.#o.trustAnchors,
      now: this.#nowSeconds(),
      fleet: this.#hsm.fleetId,
    });
    this.#peers.set(cert.subject.member, { key: cert.identityPublicKey, notAfter: cert.notAfter });
    return cert.subject.member;
  }

  /** Stops accepting a member's messages (it left the configuration). */
  forget(member: MemberId): void {
    this.#peers.delete(member);
  }

  sign(from: MemberId, body: Uint8Array): Uint8Array {
    if (from !== this.#hsm.memberId) throw new Error(`member ${this.#hsm.memberId} cannot sign as ${from}`);
    return this.#hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, signed(from, body));
  }

  verify(from: MemberId, body: Uint8Array, signature: Uint8Array): boolean {
    const peer = this.#peers.get(from);
    if (!peer || this.#nowSeconds() > peer.notAfter) return false;
    return verifyWithPurpose(peer.key, Purpose.raftMessage, signed(from, body), signature);
  }
}
