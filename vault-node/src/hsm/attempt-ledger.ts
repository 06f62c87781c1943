// The HSM's record of committed recovery attempts: the HSM evaluates the OPRF of a login
// (server.startLogin) only for an attempt the escrow state machine applied, i.e. a log entry that
// Raft committed, and only once per attempt. The state machine reports each granted attempt as it
// applies it (index, term, user, registration digest); the caller of startLogin must present the
// index and term of its attempt entry, and the HSM consumes the matching grant.
//
// What this closes: no path through the escrow code (a bug, a race, a retry, a second member
// answering for the same attempt after a leader change) can get an evaluation the log did not
// count; a grant is used once and only for the registration it was counted against. What it does
// not close (PROTOCOL.md, "Limits"): the grant comes from this member's own applied state, so a
// compromised process on a member can still forge grants; closing that needs the HSM to verify a
// quorum certificate over the entry.
//
// Bounded: grants expire after `ttlMs` (an attempt not evaluated by then stays spent, the client
// starts a new one) and at most `max` are held (the oldest is dropped first).
import { ctEqual } from '@keyfleet/sdk/hsm/bytes';

/** An attempt entry as the escrow state machine applied it. */
export interface CommittedAttempt {
  readonly index: number;
  readonly term: number;
  readonly userId: string;
  /** recordDigest(credentialNonce, registrationRecord) of the record the attempt counted against. */
  readonly recordDigest: Uint8Array;
}

/** What the caller presents: the log position of its attempt entry. */
export interface AttemptProof {
  readonly index: number;
  readonly term: number;
}

interface Grant {
  readonly term: number;
  readonly userId: string;
  readonly recordDigest: Uint8Array;
  readonly expiresAt: number;
}

export class AttemptLedger {
  readonly #grants = new Map<number, Grant>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(o: { ttlMs: number; max: number }) {
    this.#ttlMs = o.ttlMs;
    this.#max = o.max;
  }

  get size(): number {
    return this.#grants.size;
  }

  record(a: CommittedAttempt, now: number): void {
    this.#expire(now);
    // An index applied again (a snapshot restore replays nothing, but be strict): the newest wins.
    this.#grants.delete(a.index);
    if (this.#grants.size >= this.#max) this.#grants.delete(this.#grants.keys().next().value as number);
    this.#grants.set(a.index, {
      term: a.term,
      userId: a.userId,
      recordDigest: a.recordDigest.slice(),
      expiresAt: now + this.#ttlMs,
    });
  }

  /** True, once, when `proof` names a live grant for this user and registration. */
  consume(proof: AttemptProof, userId: string, recordDigest: Uint8Array, now: number): boolean {
    this.#expire(now);
    const g = this.#grants.get(proof.index);
    if (!g || g.term !== proof.term || g.userId !== userId || !ctEqual(g.recordDigest, recordDigest)) {
      return false;
    }
    this.#grants.delete(proof.index);
    return true;
  }

  #expire(now: number): void {
    // Insertion order is apply order, so expiry times are ascending.
    for (const [index, g] of this.#grants) {
      if (g.expiresAt > now) break;
      this.#grants.delete(index);
    }
  }
}
