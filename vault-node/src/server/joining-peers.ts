// How a member that joins a running fleet learns of a leader it was not configured with.
//
// The operator starts a joining member with the fleet's spec as its peer list, and Raft accepts
// envelopes only from configured peers. When a zone is replaced while the zone that leaves still
// leads (spec [dc1..dc5] -> [dc1,dc2,dc4,dc5,dc6] with dc3 leading), the new member's list lacks
// its only source of the log: every append from dc3 was refused and the learner never caught up.
// So while a member has no membership at all (it has not received any of the log yet), a sender
// it does not know is checked like any peer (its certificate fetched from that member's own peer
// address and verified against the manufacturer CA for this fleet and that member id) and then
// added as a peer; its next envelope is accepted. Once the log has told the member the group,
// senders outside it stay refused, so a member removed from the group cannot talk its way back.
import { MEMBER_ID_PATTERN } from '@keyfleet/sdk/hsm/ids';
import type { MemberId } from '../raft/types.ts';

export interface JoiningPeersOptions {
  /** True while this member has no membership yet (a fresh joiner before its first append). */
  readonly joining: () => boolean;
  /** Fetches and verifies the member's certificate; true once it is trusted. */
  readonly learn: (member: MemberId) => Promise<boolean>;
  /** Makes the member a peer (its address from the template) so its envelopes are accepted. */
  readonly addPeer: (member: MemberId) => void;
}

export class JoiningPeers {
  readonly #options: JoiningPeersOptions;
  /** One certificate check at a time: an unauthenticated flood of sender names costs one fetch. */
  #checking = false;

  constructor(options: JoiningPeersOptions) {
    this.#options = options;
  }

  /** Called for an envelope from an unconfigured sender; `from` is untrusted input. */
  unknownSender(from: MemberId): void {
    if (this.#checking || !MEMBER_ID_PATTERN.test(from) || !this.#options.joining()) return;
    this.#checking = true;
    void this.#admit(from).finally(() => {
      this.#checking = false;
    });
  }

  async #admit(from: MemberId): Promise<void> {
    if ((await this.#options.learn(from)) && this.#options.joining()) this.#options.addPeer(from);
  }
}
