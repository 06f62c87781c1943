// What the reconcile observed about a fleet, in the shape the pure decision modules (quorum.ts,
// rollout.ts, conditions.ts) take. The reconcile fills it from the informer caches (pods, claims,
// nodes) and from the leader's admin status endpoint (VAULT_CONTRACT.md); everything here is data.

import type { VaultFleetSpec } from '@keyfleet/sdk/api/index';

/**
 * The member pod's lifecycle as far as decisions go:
 *   missing      no pod object
 *   pending      not yet scheduled, or containers not started
 *   running      containers started (it may still be unready)
 *   failed       phase Failed (evicted, or exited with restartPolicy Never): it will not come back
 *   terminating  has a deletionTimestamp
 */
export type PodState = 'missing' | 'pending' | 'running' | 'failed' | 'terminating';

/**
 * The member's claim:
 *   bound     holds the member's data
 *   pending   exists but not bound yet (WaitForFirstConsumer binds it when the pod is scheduled)
 *   missing   no claim object
 *   lost      being deleted, or its volume is gone (phase Lost): the data will not come back
 */
export type ClaimState = 'bound' | 'pending' | 'missing' | 'lost';

export type RaftRole = 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner' | 'unknown';

export interface ObservedMember {
  readonly zone: string;
  readonly pod: PodState;
  /** The pod's Ready condition (the vault's /readyz: in a committed quorum and caught up). */
  readonly ready: boolean;
  /** The pod's keyfleet.dev/config-hash annotation; absent when there is no pod or no annotation. */
  readonly configHash?: string;
  /** Ready condition of the node the pod is bound to; true when the pod is not bound to a node. */
  readonly nodeReady: boolean;
  /** How long the node has not been Ready, when it is not. */
  readonly nodeNotReadySeconds?: number;
  readonly claim: ClaimState;
  /** The node the pod is bound to. */
  readonly node?: string;
  /** Key id of the member's certified HSM identity key, once provisioned. */
  readonly hsmKeyId?: string;
  /** As the member reports it. */
  readonly role?: RaftRole;
  /** As the leader reports it. */
  readonly matchIndex?: number;
  /**
   * The leader's matchIndex for this member is within a small lag of the leader's commit index
   * (the leader counts itself caught up). False whenever there is no leader to ask.
   */
  readonly caughtUp: boolean;
}

export type MembershipChangeKind = 'add-learner' | 'promote' | 'remove';

/** The leader's view of the Raft group, by zone. */
export interface RaftView {
  /** Zone of the leader, or null while there is none. */
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** A membership change appended but not yet committed and applied: no other may start. */
  readonly pendingChange: { readonly kind: MembershipChangeKind; readonly zone: string } | null;
}

export interface RolloutPolicy {
  /**
   * How long a node may be NotReady before its member is treated as lost and its pod deleted so it
   * can start elsewhere in the zone. The default matches Kubernetes' own eviction delay (300 s):
   * a shorter one risks two processes with the same member identity if the node was only cut off.
   */
  readonly nodeLostAfterSeconds: number;
}

export const DEFAULT_ROLLOUT_POLICY: RolloutPolicy = { nodeLostAfterSeconds: 300 };

export interface FleetObservation {
  readonly spec: Pick<VaultFleetSpec, 'zones' | 'updateStrategy' | 'paused' | 'storage'>;
  /** memberConfigHash(spec): what every member's configHash should be. */
  readonly desiredConfigHash: string;
  /**
   * The fleet has formed once (a leader was seen, quorum.ts hasFormed). Recorded durably by the
   * reconcile; once true, no member is ever created to form a new cluster again.
   */
  readonly bootstrapped: boolean;
  /** The zones the first bootstrap step started with, when one has started (recorded durably). */
  readonly bootstrapZones?: readonly string[];
  /** One entry per zone that is in the spec, in the Raft group, or has a pod or claim. */
  readonly members: readonly ObservedMember[];
  /** Null when no member answered as leader. */
  readonly raft: RaftView | null;
  readonly policy?: RolloutPolicy;
}
