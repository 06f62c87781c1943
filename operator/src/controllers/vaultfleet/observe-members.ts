// From Kubernetes objects and the vault's Raft reports to ObservedMember: the translation the
// reconcile runs before asking rollout.ts for the next step. Pure; times are compared with an
// injected `now`. Objects may come from a plain-JSON client (times as strings) or from
// @kubernetes/client-node's serializer (times as Dates); both are accepted.

import type { V1Node, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { Annotation, Label } from '../../specs/labels.ts';
import type { ClaimState, ObservedMember, PodState, RaftRole, RaftView } from './observed.ts';

/** What the leader (matchIndex) and the member itself (role, HSM key) report about one member. */
export interface MemberReport {
  readonly role?: RaftRole;
  readonly matchIndex?: number;
  readonly hsmKeyId?: string;
}

export interface ObserveInput {
  readonly specZones: readonly string[];
  /** The fleet's member pods and claims (selected by the fleet's labels). */
  readonly pods: readonly V1Pod[];
  readonly claims: readonly V1PersistentVolumeClaim[];
  /** At least the nodes the pods are bound to. */
  readonly nodes: readonly V1Node[];
  readonly raft: RaftView | null;
  /** By zone. */
  readonly reports: ReadonlyMap<string, MemberReport>;
  readonly now: Date;
  /** A member this many entries or fewer behind the leader's commit index counts as caught up. */
  readonly maxLagEntries?: number;
}

export const DEFAULT_MAX_LAG_ENTRIES = 64;

/** A node object that no longer exists has been gone forever, as far as waiting goes. */
const NODE_GONE_SECONDS = Number.MAX_SAFE_INTEGER;

type Time = Date | string | undefined;

function millis(t: Time): number | undefined {
  if (t === undefined) return undefined;
  const ms = new Date(t).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function zoneOf(o: { metadata?: { labels?: Record<string, string> } }): string | undefined {
  return o.metadata?.labels?.[Label.zone];
}

export function podState(pod: V1Pod | undefined): PodState {
  if (pod === undefined) return 'missing';
  if (pod.metadata?.deletionTimestamp !== undefined) return 'terminating';
  switch (pod.status?.phase) {
    case 'Running':
      return 'running';
    case 'Failed':
    case 'Succeeded':
      return 'failed';
    default:
      return 'pending';
  }
}

function podReady(pod: V1Pod | undefined): boolean {
  return pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function claimState(claim: V1PersistentVolumeClaim | undefined): ClaimState {
  if (claim === undefined) return 'missing';
  if (claim.metadata?.deletionTimestamp !== undefined || claim.status?.phase === 'Lost') return 'lost';
  return claim.status?.phase === 'Bound' ? 'bound' : 'pending';
}

/** Whether the pod's node is Ready and, if not, for how long it has not been. */
export function nodeHealth(
  pod: V1Pod | undefined,
  nodes: readonly V1Node[],
  now: Date,
): { nodeReady: boolean; nodeNotReadySeconds?: number } {
  const nodeName = pod?.spec?.nodeName;
  if (nodeName === undefined) return { nodeReady: true };
  const node = nodes.find((n) => n.metadata?.name === nodeName);
  if (node === undefined) return { nodeReady: false, nodeNotReadySeconds: NODE_GONE_SECONDS };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return { nodeReady: true };
  const since = millis(ready?.lastTransitionTime as Time);
  const seconds = since === undefined ? 0 : Math.max(0, Math.floor((now.getTime() - since) / 1000));
  return { nodeReady: false, nodeNotReadySeconds: seconds };
}

function caughtUp(
  zone: string,
  report: MemberReport | undefined,
  raft: RaftView | null,
  maxLag: number,
): boolean {
  if (raft === null || raft.leader === null) return false;
  if (zone === raft.leader) return true;
  return report?.matchIndex !== undefined && report.matchIndex + maxLag >= raft.commitIndex;
}

export function observeMembers(input: ObserveInput): ObservedMember[] {
  const maxLag = input.maxLagEntries ?? DEFAULT_MAX_LAG_ENTRIES;
  const zones = new Set<string>(input.specZones);
  for (const z of [...(input.raft?.voters ?? []), ...(input.raft?.learners ?? [])]) zones.add(z);
  for (const o of [...input.pods, ...input.claims]) {
    const z = zoneOf(o);
    if (z !== undefined) zones.add(z);
  }
  return [...zones].map((zone): ObservedMember => {
    const pod = input.pods.find((p) => zoneOf(p) === zone);
    const claim = input.claims.find((c) => zoneOf(c) === zone);
    const report = input.reports.get(zone);
    const m: ObservedMember = {
      zone,
      pod: podState(pod),
      ready: podReady(pod),
      claim: claimState(claim),
      caughtUp: caughtUp(zone, report, input.raft, maxLag),
      ...nodeHealth(pod, input.nodes, input.now),
      ...(pod?.metadata?.annotations?.[Annotation.configHash] !== undefined
        ? { configHash: pod.metadata.annotations[Annotation.configHash] }
        : {}),
      ...(pod?.spec?.nodeName !== undefined ? { node: pod.spec.nodeName } : {}),
      ...(report?.role !== undefined ? { role: report.role } : {}),
      ...(report?.matchIndex !== undefined ? { matchIndex: report.matchIndex } : {}),
      ...(report?.hsmKeyId !== undefined ? { hsmKeyId: report.hsmKeyId } : {}),
    };
    return m;
  });
}
