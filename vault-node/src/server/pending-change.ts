// The membership change this member (as leader) has in flight, for the admin status' pendingChange:
// the operator must not start a second change while one is appended but not yet committed and
// applied (VAULT_CONTRACT.md). A change is pending from the moment the operator's call reaches this
// member until the call settles; when its outcome is unknown (a Raft timeout: the entry may still
// commit), it stays pending until this member has applied everything its log held at that moment,
// after which the entry is either applied or gone.
//
// Limit: the tracker knows the changes proposed through this member's admin API. A leader elected
// while its predecessor's change is still uncommitted reports null until it commits (the Raft core
// commits it with the new leader's first entry, within a heartbeat or two); a second change asked
// in that window is still refused by the core (409), so the report is advisory, the core is the guard.
import type { MembershipChangeKind, PendingMembershipChange } from '@keyfleet/sdk/vault/contract';
import { RaftTimeoutError } from '../raft/node/errors.ts';

/** What the tracker needs of the Raft node. */
export interface AppliedProgress {
  status(): { readonly applied: number; readonly lastIndex: number };
}

export class ChangeInFlightError extends Error {
  override name = 'ChangeInFlightError';
  readonly pending: PendingMembershipChange;
  constructor(pending: PendingMembershipChange) {
    super(`the membership change ${pending.kind} ${pending.member} is still in flight`);
    this.pending = pending;
  }
}

export class PendingChangeTracker {
  #pending: { readonly change: PendingMembershipChange; settledAt: number | null } | null = null;

  /** The change in flight on `node`, or null. */
  current(node: AppliedProgress | null): PendingMembershipChange | null {
    const p = this.#pending;
    if (!p) return null;
    if (p.settledAt !== null && (!node || node.status().applied >= p.settledAt)) {
      this.#pending = null;
      return null;
    }
    return p.change;
  }

  /** Runs `propose` as the one change in flight; throws ChangeInFlightError while another is. */
  async run(
    node: AppliedProgress,
    kind: MembershipChangeKind,
    member: string,
    propose: () => Promise<void>,
  ): Promise<void> {
    const busy = this.current(node);
    if (busy) throw new ChangeInFlightError(busy);
    const entry = { change: { kind, member }, settledAt: null as number | null };
    this.#pending = entry;
    try {
      await propose();
      if (this.#pending === entry) this.#pending = null;
    } catch (e) {
      if (this.#pending === entry) {
        if (e instanceof RaftTimeoutError) entry.settledAt = node.status().lastIndex;
        else this.#pending = null;
      }
      throw e;
    }
  }
}
