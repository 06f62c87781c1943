// Errors a RaftNode's callers act on. Each says what happened to the request, and whether its
// outcome is known: a timed-out proposal may still commit, a NotLeader one never will.

import type { MemberId } from '../types.ts';

/** This member does not lead: send the request to `leaderUrl` (null when no leader is known). */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  readonly leaderId: MemberId | null;
  readonly leaderUrl: string | null;
  constructor(leaderId: MemberId | null, leaderUrl: string | null) {
    super(
      leaderId
        ? `not the leader; the leader is ${leaderId} at ${leaderUrl ?? 'an unknown address'}`
        : 'no leader is known right now; retry shortly',
    );
    this.leaderId = leaderId;
    this.leaderUrl = leaderUrl;
  }
}

/** The proposal did not and will not commit. */
export class ProposalDroppedError extends Error {
  override name = 'ProposalDroppedError';
  readonly reason: 'dropped' | 'transferring' | 'overwritten' | 'stopped';
  constructor(reason: ProposalDroppedError['reason'], detail?: string) {
    super(`proposal not committed (${reason})${detail ? `: ${detail}` : ''}`);
    this.reason = reason;
  }
}

/** No answer in time, or no longer trackable. For a proposal the outcome is unknown: it may still commit. */
export class RaftTimeoutError extends Error {
  override name = 'RaftTimeoutError';
  constructor(what: string, ms: number, why = `timed out after ${ms} ms`) {
    super(`${what} ${why}${what === 'proposal' ? '; it may still commit' : ''}`);
  }
}
