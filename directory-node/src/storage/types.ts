// The storage interface of a directory: a consistent read snapshot (tree nodes, value states,
// epochs), one atomic commit per epoch, and the durable queue of pending changes. The SQLite
// backend (sqlite.ts) is the embedded default.
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import type { NodeSource } from '../tree/node-source.ts';
import type { TreeNode } from '../tree/types.ts';

/** One version of a user's value (akd ValueState). */
export type ValueState = {
  readonly username: Uint8Array;
  readonly value: Uint8Array;
  readonly version: number;
  /** the epoch this version was published in */
  readonly epoch: number;
  /** the fresh node label of this version */
  readonly label: NodeLabel;
};

/** A published epoch: its root, signed head and audit blob. */
export type EpochRecord = {
  readonly epoch: number;
  readonly rootHash: Uint8Array;
  readonly previousRootHash: Uint8Array;
  /** milliseconds since the Unix epoch, as signed in the head */
  readonly timestamp: number;
  /** the encoded epoch head that `signature` signs */
  readonly head: Uint8Array;
  readonly signature: Uint8Array;
  /** akd protobuf SingleAppendOnlyProof for epoch-1 -> epoch */
  readonly auditBlob: Uint8Array;
  /** number of user updates applied */
  readonly updates: number;
};

/**
 * A published epoch without its audit blob: what readers need for every proof they serve
 * (the blob of a large epoch is megabytes; `epoch(n)` returns it when it is wanted).
 */
export type EpochHead = Omit<EpochRecord, 'auditBlob'>;

export type QueuedChange = {
  readonly seq: number;
  readonly requestId: string;
  readonly username: Uint8Array;
  readonly value: Uint8Array;
  readonly receivedAt: number;
};

export type EnqueueResult =
  | { readonly status: 'queued'; readonly seq: number }
  | { readonly status: 'duplicate'; readonly seq: number }
  | { readonly status: 'conflict' }
  | { readonly status: 'full' };

export interface DirectorySnapshot extends NodeSource {
  latestEpoch(): Promise<EpochHead | undefined>;
  epoch(epoch: number): Promise<EpochRecord | undefined>;
  /** The newest version of each username that has one. Keys: hex of the username bytes. */
  latestValueStates(usernames: readonly Uint8Array[]): Promise<Map<string, ValueState>>;
  /** Every version of one username, newest first. */
  valueStates(username: Uint8Array, limit: number): Promise<ValueState[]>;
}

export type EpochCommit = {
  readonly record: EpochRecord;
  readonly nodes: readonly TreeNode[];
  readonly valueStates: readonly ValueState[];
  /** queue entries this epoch consumed (applied, or dropped as no-ops) */
  readonly drained: readonly number[];
};

/** Where a commit can be interrupted in tests (crash injection). */
export type CommitStep = 'nodes' | 'values' | 'epoch' | 'queue';

export interface DirectoryStorage {
  /** Runs `fn` against one consistent snapshot of the last committed state. */
  read<T>(fn: (snapshot: DirectorySnapshot) => Promise<T>): Promise<T>;
  /**
   * Atomically writes an epoch: all of it or none. Fails if `record.epoch` is not the next
   * epoch or `previousRootHash` is not the current root (a second writer, or a replay).
   */
  commitEpoch(commit: EpochCommit): Promise<void>;
  /** Drops queue entries that changed nothing (value equal to the current one). */
  dropQueued(seqs: readonly number[]): Promise<void>;
  enqueue(
    change: { requestId: string; username: Uint8Array; value: Uint8Array },
    maxDepth: number,
  ): Promise<EnqueueResult>;
  /** Several changes in one transaction (one result each, in order). */
  enqueueMany(
    changes: readonly { requestId: string; username: Uint8Array; value: Uint8Array }[],
    maxDepth: number,
  ): Promise<EnqueueResult[]>;
  /** The oldest pending changes, in arrival order. */
  pending(limit: number): Promise<QueuedChange[]>;
  queueDepth(): Promise<number>;
  close(): void | Promise<void>;
}
