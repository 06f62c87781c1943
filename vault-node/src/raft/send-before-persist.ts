// Which of a Ready's messages may leave before the Ready is persisted.
//
// The contract is persist, then send. One exception shortens every commit by a disk write (Raft
// thesis §10.2.1): a leader may send its appends, heartbeats and commit notices while it writes the same entries
// to its own disk, because the core counts the leader's own log toward a commit only as far as it
// is durable (RaftCore #maybeCommit), so nothing commits on an entry the leader holds only in
// memory. What the messages carry beyond entries must already be durable: their term and our vote
// (a Ready that changes either sends nothing early), and the commit index (counted as above).
// Everything a follower or candidate sends (acknowledgements, votes) still waits for the disk.

import type { HardState, Message, Ready } from './types.ts';

export interface SplitMessages {
  /** May be sent at once, while the Ready is being persisted. */
  readonly beforePersist: Message[];
  /** Only after the Ready is durable. */
  readonly afterPersist: Message[];
}

/** `durable` is the term and vote on disk before this Ready. */
export function splitMessages(rd: Ready, durable: Pick<HardState, 'term' | 'vote'>): SplitMessages {
  const hs = rd.hardState;
  const termAndVoteDurable = hs === undefined || (hs.term === durable.term && hs.vote === durable.vote);
  if (!termAndVoteDurable) return { beforePersist: [], afterPersist: [...rd.messages] };
  const beforePersist: Message[] = [];
  const afterPersist: Message[] = [];
  for (const m of rd.messages) {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'commit') beforePersist.push(m);
    else afterPersist.push(m);
  }
  return { beforePersist, afterPersist };
}
