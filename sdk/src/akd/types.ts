/**
 * akd's proof data model (akd_core/src/types), with u64 epochs and versions as bigint and
 * all digests as 32-byte Uint8Arrays. These are what the decoders return and the
 * encoders and verifiers take; a server can build them too.
 */
import type { Direction, NodeLabel } from './label.ts';

/** A node label with its 32-byte tree value. */
export interface AzksElement {
  readonly label: NodeLabel;
  readonly value: Uint8Array;
}

/** One step of a Merkle path, from the parent's point of view. */
export interface SiblingProof {
  /** the parent's label */
  readonly label: NodeLabel;
  /** the parent's other child (akd sends exactly one) */
  readonly sibling: AzksElement;
  /** the side the path continues on: 0 left, 1 right */
  readonly direction: Direction;
}

export interface MembershipProof {
  readonly label: NodeLabel;
  readonly hashVal: Uint8Array;
  /** root first, the proven node's parent last */
  readonly siblingProofs: readonly SiblingProof[];
}

export interface NonMembershipProof {
  readonly label: NodeLabel;
  readonly longestPrefix: NodeLabel;
  readonly longestPrefixChildren: readonly [AzksElement, AzksElement];
  readonly longestPrefixMembershipProof: MembershipProof;
}

export interface LookupProof {
  readonly epoch: bigint;
  readonly value: Uint8Array;
  readonly version: bigint;
  readonly existenceVrfProof: Uint8Array;
  readonly existenceProof: MembershipProof;
  readonly markerVrfProof: Uint8Array;
  readonly markerProof: MembershipProof;
  readonly freshnessVrfProof: Uint8Array;
  readonly freshnessProof: NonMembershipProof;
  readonly commitmentNonce: Uint8Array;
}

export interface UpdateProof {
  readonly epoch: bigint;
  readonly value: Uint8Array;
  readonly version: bigint;
  readonly existenceVrfProof: Uint8Array;
  readonly existenceProof: MembershipProof;
  /** absent for version 1 */
  readonly previousVersionVrfProof?: Uint8Array | undefined;
  /** absent for version 1 */
  readonly previousVersionProof?: MembershipProof | undefined;
  readonly commitmentNonce: Uint8Array;
}

export interface HistoryProof {
  /** newest version first, consecutive versions */
  readonly updateProofs: readonly UpdateProof[];
  readonly pastMarkerVrfProofs: readonly Uint8Array[];
  readonly existenceOfPastMarkerProofs: readonly MembershipProof[];
  readonly futureMarkerVrfProofs: readonly Uint8Array[];
  readonly nonExistenceOfFutureMarkerProofs: readonly NonMembershipProof[];
}

/** The append-only proof of one epoch transition; also the content of an audit blob. */
export interface SingleAppendOnlyProof {
  /** leaves inserted in the transition, with their commitments (not yet epoch-hashed) */
  readonly inserted: readonly AzksElement[];
  /** roots of the subtrees unchanged since the start epoch, with their node values */
  readonly unchangedNodes: readonly AzksElement[];
}

export interface AppendOnlyProof {
  readonly proofs: readonly SingleAppendOnlyProof[];
  /** start epoch of each transition */
  readonly epochs: readonly bigint[];
}

export interface VerifyResult {
  readonly epoch: bigint;
  readonly version: bigint;
  readonly value: Uint8Array;
}

/** Which part of a key's history a history proof covers (akd's HistoryParams). */
export type HistoryParams =
  | { readonly kind: 'complete' }
  | { readonly kind: 'most-recent'; readonly n: number };

/** akd's HistoryVerificationParams: Default, or AllowMissingValues (tombstoned values). */
export interface HistoryVerificationParams {
  readonly historyParams: HistoryParams;
  /** Accept updates whose value was deleted (empty value = tombstone) without checking it. */
  readonly allowMissingValues?: boolean;
}
