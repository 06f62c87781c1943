// The operator's side of the vault admin API (VAULT_CONTRACT.md, "Operator admin API"): reaching a
// member by its pod IP on the admin port, asking every running member for its Raft status, and
// turning those answers into the RaftView and per-zone reports the pure decision modules take.
// Members are identified by member id on the wire and by zone in the decisions; the fleet's
// memberName() maps one to the other.

import { VaultAdminClient } from '@keyfleet/sdk/vault/admin-client';
import type { AdminStatus as VaultAdminStatus } from '@keyfleet/sdk/vault/contract';
import type { V1Pod } from '@kubernetes/client-node';
import { Label } from '../../specs/labels.ts';
import { HttpPath, Port } from '../../specs/vault-contract.ts';
import type { MemberReport } from './observe-members.ts';
import type { RaftRole, RaftView } from './observed.ts';

/**
 * What `GET /v1/admin/status` answers (the sdk contract), with the fields newer vault versions added
 * optional: during a rolling update a member still on an older image answers without them.
 */
export type AdminStatus = Omit<VaultAdminStatus, 'pendingChange' | 'ready' | 'opaqueServerPublicKey'> &
  Partial<Pick<VaultAdminStatus, 'pendingChange' | 'ready' | 'opaqueServerPublicKey'>>;

/** One signed call to one member; VaultAdminClient is the real one, tests inject a fake. */
export interface AdminCaller {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/** Opens an AdminCaller to the member at `baseUrl`, signing with the operator admin key. */
export type AdminConnector = (
  baseUrl: string,
  operatorAdminSeed: Uint8Array,
  o?: { timeoutMs?: number },
) => AdminCaller;

/** Status and identity calls answer at once; a member that does not is treated as down. */
export const ADMIN_CALL_TIMEOUT_MS = 5_000;
/**
 * Membership changes answer once committed and a leadership transfer once the target leads: a few
 * election timeouts at most. Past this the reconcile fails and retries, and the leader refuses a
 * second change while one is pending.
 */
export const LEADER_CALL_TIMEOUT_MS = 20_000;

export const connectVaultAdmin: AdminConnector = (baseUrl, seed, o = {}) =>
  new VaultAdminClient(baseUrl, seed, { timeoutMs: o.timeoutMs ?? ADMIN_CALL_TIMEOUT_MS });

/**
 * The member's admin URL by pod IP. The operator talks to pods directly rather than through DNS:
 * the admin port is behind no Service, and the pod IP is known as soon as the sandbox runs.
 */
export function podAdminUrl(pod: V1Pod): string | undefined {
  const ip = pod.status?.podIP;
  if (ip === undefined || ip === '') return undefined;
  return ip.includes(':') ? `http://[${ip}]:${Port.admin}` : `http://${ip}:${Port.admin}`;
}

export interface MemberAnswer {
  readonly zone: string;
  readonly status: AdminStatus | null;
  /** Why the status could not be read, for the log. */
  readonly error?: string;
}

/** Asks every pod that has an IP for its status, in parallel; a member that fails answers null. */
export async function readStatuses(
  pods: readonly V1Pod[],
  connect: AdminConnector,
  seed: Uint8Array,
): Promise<MemberAnswer[]> {
  const asked = pods.flatMap((pod) => {
    const url = podAdminUrl(pod);
    const zone = pod.metadata?.labels?.[Label.zone];
    if (url === undefined || zone === undefined || pod.metadata?.deletionTimestamp !== undefined) return [];
    return [{ zone, url }];
  });
  return Promise.all(
    asked.map(async ({ zone, url }): Promise<MemberAnswer> => {
      try {
        return { zone, status: await connect(url, seed).call<AdminStatus>('GET', HttpPath.adminStatus) };
      } catch (err) {
        return { zone, status: null, error: (err as Error).message };
      }
    }),
  );
}

const ROLES: readonly RaftRole[] = ['leader', 'follower', 'candidate', 'pre-candidate', 'learner'];

function role(text: string): RaftRole {
  return (ROLES as readonly string[]).includes(text) ? (text as RaftRole) : 'unknown';
}

export interface RaftObservation {
  readonly raft: RaftView | null;
  readonly reports: ReadonlyMap<string, MemberReport>;
  /** Zone of the leader, whose pod the admin calls that must go to the leader are sent to. */
  readonly leaderZone: string | null;
  /** Zone -> the member id the Raft group knows that zone's member by (voters and learners). */
  readonly groupIds: ReadonlyMap<string, string>;
}

/**
 * The leader's view of the group, by zone. The leader is the member that says it is leader with
 * the highest term (a deposed leader that has not heard of the new term yet loses). Member ids the
 * fleet cannot map to a zone are left out of the view: the operator never made them.
 */
export function raftObservation(
  answers: readonly MemberAnswer[],
  zoneOfMember: (memberId: string) => string | undefined,
): RaftObservation {
  const reports = new Map<string, MemberReport>();
  for (const a of answers) {
    if (a.status === null) continue;
    reports.set(a.zone, {
      role: role(a.status.role),
      ...(a.status.hsmKeyId ? { hsmKeyId: a.status.hsmKeyId } : {}),
    });
  }
  const leaders = answers
    .filter((a) => a.status?.role === 'leader')
    .sort((a, b) => (b.status?.term ?? 0) - (a.status?.term ?? 0));
  const leader = leaders[0];
  if (leader === undefined || leader.status === null) {
    return { raft: null, reports, leaderZone: null, groupIds: new Map() };
  }
  const st = leader.status;
  const zones = (ids: readonly string[]) => ids.map(zoneOfMember).filter((z): z is string => z !== undefined);
  for (const [memberId, p] of Object.entries(st.progress ?? {})) {
    const zone = zoneOfMember(memberId);
    if (zone === undefined) continue;
    reports.set(zone, { ...(reports.get(zone) ?? {}), matchIndex: p.matchIndex });
  }
  const pendingZone = st.pendingChange ? zoneOfMember(st.pendingChange.member) : undefined;
  const raft: RaftView = {
    leader: leader.zone,
    term: st.term,
    commitIndex: st.commitIndex,
    voters: zones(st.membership.voters),
    learners: zones(st.membership.learners),
    pendingChange:
      st.pendingChange && pendingZone !== undefined
        ? { kind: st.pendingChange.kind, zone: pendingZone }
        : null,
  };
  const groupIds = new Map<string, string>();
  for (const id of [...st.membership.voters, ...st.membership.learners]) {
    const zone = zoneOfMember(id);
    if (zone !== undefined) groupIds.set(zone, id);
  }
  return { raft, reports, leaderZone: leader.zone, groupIds };
}
