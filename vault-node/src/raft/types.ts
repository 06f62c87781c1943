// Shared contract between the Raft core (no I/O), its durable storage and its transport.
// Shaped after go.etcd.io/raft: the core consumes ticks and messages and hands back a Ready
// describing what to persist, what to send and what to apply, in that order.

/** Member identity: a stable string (in Kubernetes, the zone's member name, e.g. "backups-dc3"). */
export type MemberId = string;

export type EntryType = 'normal' | 'conf-change' | 'noop';
// A 'conf-change' entry's data is encodeConfChange(cc) from ./conf-change.ts. A membership takes
// effect on every member as soon as its entry is appended to that member's log, committed or not
// (Raft thesis §4.1); truncating the entry reverts it. So the membership of a log is its snapshot's
// membership (or the bootstrap one) with the log's conf-change entries applied in order.

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /**
   * Opaque command bytes for 'normal'; an encoded ConfChange for 'conf-change'; for 'noop', empty
   * or (a new leader's first entry) encodeMembership() of the membership in force there.
   */
  readonly data: Uint8Array;
}

/** Must reach stable storage before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: MemberId | null;
  readonly commit: number;
}

/** Voters decide; learners receive the log but neither vote nor count towards a quorum. */
export interface Membership {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
}

export type ConfChange =
  | { readonly kind: 'add-learner'; readonly member: MemberId }
  | { readonly kind: 'promote'; readonly member: MemberId }
  | { readonly kind: 'remove'; readonly member: MemberId };

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machine's own serialisation at metadata.index. */
  readonly data: Uint8Array;
}

// Fields each message type uses (all others absent):
//   pre-vote, vote                      index, logTerm (candidate's last entry); vote: context
//                                       'campaign-transfer' when a leadership transfer asked for it
//   pre-vote-response, vote-response    reject
//   append                              index, logTerm (entry before `entries`), entries, commit
//   append-response                     index (last index now matching), or reject with index (the
//                                       rejected one), rejectHint, hintTerm; no fields at all when
//                                       it only tells a stale leader the newer term
//   heartbeat                           commit, context?   heartbeat-response  context?
//   snapshot                            snapshot           snapshot-response   index, reject?
//   timeout-now                         nothing            propose             entries (data only)
//   read-index                          context            read-index-response index, context
export type MessageType =
  | 'pre-vote'
  | 'pre-vote-response'
  | 'vote'
  | 'vote-response'
  | 'append'
  | 'append-response'
  | 'heartbeat'
  | 'heartbeat-response'
  /** Leader → follower in replicate state: its commit index (≤ the follower's match), unanswered. */
  | 'commit'
  | 'snapshot'
  | 'snapshot-response'
  | 'timeout-now'
  | 'read-index'
  | 'read-index-response'
  | 'propose';

export interface Message {
  readonly type: MessageType;
  readonly from: MemberId;
  readonly to: MemberId;
  readonly term: number;
  /** append: index/term of the entry preceding `entries`; vote: candidate's last log index/term. */
  readonly index?: number;
  readonly logTerm?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly snapshot?: Snapshot;
  /** Responses: rejection plus a hint for fast conflict backtracking. */
  readonly reject?: boolean;
  readonly rejectHint?: number;
  readonly hintTerm?: number;
  /** ReadIndex / heartbeat correlation. */
  readonly context?: Uint8Array;
}

/** What the caller must do, in order: persist (hardState, entries, snapshot), then send, then apply. */
export interface Ready {
  /** Its commit never exceeds the last index of the log once this Ready's entries are persisted. */
  readonly hardState?: HardState;
  /** Entries to append durably; may overwrite a conflicting tail starting at entries[0].index. */
  readonly entries: readonly Entry[];
  /** Received from the leader: replaces the whole log (drop every entry), then `entries` follow it. */
  readonly snapshot?: Snapshot;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  /** Linearizable reads whose read index has been confirmed by a quorum. */
  readonly readStates: readonly { readonly index: number; readonly context: Uint8Array }[];
  readonly softState?: { readonly leader: MemberId | null; readonly role: Role };
  /** The membership of the log, when it changed since the last Ready (peers to add or drop). */
  readonly membership?: Membership;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner';

/** The replicated application (the escrow service plugs in here). */
export interface StateMachine {
  /** Called once per committed normal entry, strictly in log order. */
  apply(entry: Entry): Promise<Uint8Array> | Uint8Array;
  snapshot(): Promise<Uint8Array> | Uint8Array;
  /**
   * Optional, preferred by RaftNode: captures the state as of the last applied entry before it
   * returns (a copy of the record map, say), then encodes that copy in slices that yield to the
   * event loop. Applying and committing go on meanwhile; a state machine whose snapshot() encodes
   * everything at once stops its member for as long as that takes, once every snapshotEntries
   * commits (with a million records, longer than an election timeout). The bytes must be what
   * snapshot() would have returned at the moment of the call.
   */
  snapshotInSlices?(): Promise<Uint8Array>;
  restore(data: Uint8Array): Promise<void> | void;
}

/**
 * Proves a peer message came from a configured member (the vault plugs in its HSMs' pairwise MAC
 * keys, tests a seed-derived identity). The result may be a signature or a MAC: it need convince
 * only the recipient, so it is made for one recipient and checked by that recipient alone.
 */
export interface Authenticator {
  /** Authenticates an outgoing message body from `from` to `to`; the result travels with it. */
  sign(from: MemberId, to: MemberId, body: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** True only when `signature` over `body` was made by the configured member `from` for `to`. */
  verify(from: MemberId, to: MemberId, body: Uint8Array, signature: Uint8Array): Promise<boolean> | boolean;
}
