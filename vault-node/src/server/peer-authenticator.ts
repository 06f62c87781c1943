// Raft message authentication with peers' certified HSM keys, learnt on demand: a message from a
// member whose certificate this member has not verified yet is dropped, and the certificate is
// fetched from that member's peer address (GET /v1/fleet/identity) and verified against the
// manufacturer CA, this fleet and that member id. The next message is accepted. Sending works the
// same way: a MAC for a member needs the key its HSM derives from that member's certified key.
// Nothing on the network can make a member trust a key that the CA did not certify for that
// member of this fleet.
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import type { HsmAuthenticator } from '../hsm/index.ts';
import type { Logger } from '../raft/node/logger.ts';
import type { Authenticator, MemberId } from '../raft/types.ts';

const MAX_CERTIFICATE_BYTES = 4096;
const RETRY_AFTER_MS = 1000;
const MAX_REMEMBERED_TRIES = 256;

export class PeerAuthenticator implements Authenticator {
  readonly #inner: HsmAuthenticator;
  readonly #urlOf: (member: MemberId) => string;
  readonly #log: Logger;
  readonly #lastTry = new Map<MemberId, number>();

  constructor(inner: HsmAuthenticator, urlOf: (member: MemberId) => string, log: Logger) {
    this.#inner = inner;
    this.#urlOf = urlOf;
    this.#log = log;
  }

  /** Throws (the transport drops the batch; Raft sends again) until `to`'s certificate verified. */
  sign(from: MemberId, to: MemberId, body: Uint8Array): Uint8Array {
    if (!this.#inner.isTrusted(to)) {
      void this.learn(to);
      throw new Error(`the certificate of ${to} has not been verified yet`);
    }
    return this.#inner.sign(from, to, body);
  }

  verify(from: MemberId, to: MemberId, body: Uint8Array, tag: Uint8Array): boolean {
    if (!this.#inner.isTrusted(from)) {
      void this.learn(from);
      return false;
    }
    return this.#inner.verify(from, to, body, tag);
  }

  /** Whether the HSM holds a valid link to `member` (an expired one is learnt again). */
  isTrusted(member: MemberId): boolean {
    return this.#inner.isTrusted(member);
  }

  /** Fetches and verifies `member`'s certificate (at most once a second per member). */
  async learn(member: MemberId): Promise<boolean> {
    if (this.#inner.isTrusted(member)) return true;
    const now = Date.now();
    if (now - (this.#lastTry.get(member) ?? 0) < RETRY_AFTER_MS) return false;
    this.#forgetOldTries(now);
    this.#lastTry.set(member, now);
    try {
      const res = await fetch(this.#urlOf(member) + HttpPath.peerIdentity, {
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) return false;
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length > MAX_CERTIFICATE_BYTES) throw new Error('certificate too large');
      const subject = this.#inner.trust(bytes);
      if (subject !== member) {
        this.#inner.forget(subject);
        throw new Error(`the address of ${member} served the certificate of ${subject}`);
      }
      this.#log('info', 'peer certificate verified', { peer: member });
      return true;
    } catch (e) {
      this.#log('warn', 'peer certificate refused', {
        peer: member,
        reason: e instanceof Error ? e.message : String(e),
      });
      return false;
    }
  }

  /** Names come from envelopes nobody has verified yet: keep the map of recent tries small. */
  #forgetOldTries(now: number): void {
    if (this.#lastTry.size < MAX_REMEMBERED_TRIES) return;
    for (const [member, at] of this.#lastTry) if (now - at >= RETRY_AFTER_MS) this.#lastTry.delete(member);
  }

  forget(member: MemberId): void {
    this.#inner.forget(member);
  }
}
