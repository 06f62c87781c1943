// Builders of fleet observations for the decision tables: a healthy, up-to-date fleet by default,
// with per-zone and per-group overrides.

import type { FleetObservation, ObservedMember, RaftView } from './observed.ts';

export const OLD = 'sha256:old';
export const NEW = 'sha256:new';
export const ZONES3 = ['dc1', 'dc2', 'dc3'];
export const ZONES7 = ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'];

export function healthyMember(zone: string, overrides: Partial<ObservedMember> = {}): ObservedMember {
  return {
    zone,
    pod: 'running',
    ready: true,
    configHash: NEW,
    nodeReady: true,
    claim: 'bound',
    role: 'follower',
    matchIndex: 100,
    caughtUp: true,
    ...overrides,
  };
}

/** A member that is down: pod running but not ready and not caught up. */
export const down: Partial<ObservedMember> = { ready: false, caughtUp: false, matchIndex: 10 };
export const gone: Partial<ObservedMember> = {
  pod: 'missing',
  ready: false,
  caughtUp: false,
  configHash: undefined,
};

export interface ObservationInput {
  zones?: string[];
  /** Raft voters; default: the zones. */
  voters?: string[];
  learners?: string[];
  /** Zone of the leader; default: the first voter; null: none. */
  leader?: string | null;
  /** Per-zone overrides; zones listed here that are not in `zones` get a member too. */
  members?: Record<string, Partial<ObservedMember>>;
  raft?: null;
  pendingChange?: RaftView['pendingChange'];
  bootstrapped?: boolean;
  bootstrapZones?: string[];
  paused?: boolean;
  maxUnavailable?: number;
  retentionPolicy?: 'Retain' | 'Delete';
}

export function observe(input: ObservationInput = {}): FleetObservation {
  const zones = input.zones ?? ZONES3;
  const voters = input.voters ?? zones;
  const learners = input.learners ?? [];
  const leader = input.leader === undefined ? (voters[0] ?? null) : input.leader;
  const memberZones = [...new Set([...zones, ...voters, ...learners, ...Object.keys(input.members ?? {})])];
  const members = memberZones.map((z) =>
    healthyMember(z, {
      role: z === leader ? 'leader' : learners.includes(z) ? 'learner' : 'follower',
      ...input.members?.[z],
    }),
  );
  const raft: RaftView | null =
    input.raft === null
      ? null
      : { leader, term: 4, commitIndex: 100, voters, learners, pendingChange: input.pendingChange ?? null };
  return {
    spec: {
      zones,
      paused: input.paused ?? false,
      updateStrategy: { maxUnavailable: input.maxUnavailable ?? 1 },
      storage: { size: '1Gi', retentionPolicy: input.retentionPolicy ?? 'Retain' },
    },
    desiredConfigHash: NEW,
    bootstrapped: input.bootstrapped ?? true,
    ...(input.bootstrapZones ? { bootstrapZones: input.bootstrapZones } : {}),
    members,
    raft,
  };
}
