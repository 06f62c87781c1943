// Test support for the reconcile and controller tests: stand-ins for the kubelet (pods get an IP
// and run; claims bind) and for the vault members behind the admin API (each has a software
// identity key, refuses Raft until certified by the fleet's CA, and the first certified quorum
// forms a group led by the first zone). Only what the reconcile reads and calls is modelled.

import {
  certificateRequestTbs,
  encodeCertificateRequest,
  verifyCertificate,
} from '@keyfleet/sdk/hsm/certificate';
import {
  ed25519PrivateKey,
  Purpose,
  rawPublicKey,
  signWithPurpose,
  x25519PrivateKey,
} from '@keyfleet/sdk/hsm/keys';
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { hexToBytes } from '@noble/hashes/utils.js';
import { builtin, type KubeObject } from '../../runtime/resource.ts';
import { FakeApiServer, type FakeResource } from '../../runtime/testing/fake-apiserver.ts';
import { Label } from '../../specs/labels.ts';
import { DataKey, Env, HttpPath } from '../../specs/vault-contract.ts';
import type { AdminCaller, AdminConnector, AdminStatus } from './member-admin.ts';
import { ownedKinds, vaultFleetType } from './reconcile.ts';

/** What a member's HSM answers to GET identity/request: its keys, asking for `subject`, base64url. */
export function signedCertificateRequest(
  subject: { fleet: string; member: string; zone: string },
  identitySeed: Uint8Array,
  agreementSecret: Uint8Array,
): string {
  const identity = ed25519PrivateKey(identitySeed);
  const request = {
    subject,
    identityPublicKey: rawPublicKey(identity),
    agreementPublicKey: rawPublicKey(x25519PrivateKey(agreementSecret)),
  };
  const signature = signWithPurpose(identity, Purpose.certificateRequest, certificateRequestTbs(request));
  return Buffer.from(encodeCertificateRequest(request, signature)).toString('base64url');
}

/**
 * A fake API server serving every kind the VaultFleet controller reads or writes (and `extraKinds`),
 * with `nodes` Ready; `zoneOf` gives a node its topology zone label.
 */
export function fleetApiServer(
  nodes: readonly string[],
  options: { extraKinds?: readonly FakeResource[]; zoneOf?: (node: string) => string } = {},
): FakeApiServer {
  const api = new FakeApiServer([
    { type: vaultFleetType, statusSubresource: true },
    ...(options.extraKinds ?? []),
    builtin.pod,
    builtin.persistentVolumeClaim,
    builtin.secret,
    builtin.configMap,
    builtin.service,
    builtin.event,
    ownedKinds.serviceAccount,
    ownedKinds.networkPolicy,
    ownedKinds.podDisruptionBudget,
    ownedKinds.node,
  ]);
  for (const name of nodes) {
    const zone = options.zoneOf?.(name);
    api.seed(ownedKinds.node, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, ...(zone ? { labels: { 'topology.kubernetes.io/zone': zone } } : {}) },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    } as KubeObject);
  }
  return api;
}

interface Member {
  readonly ip: string;
  readonly zone: string;
  readonly memberId: string;
  readonly fleetId: string;
  readonly identitySeed: Uint8Array;
  readonly agreementSecret: Uint8Array;
  readonly clusterState: string;
  certified: boolean;
}

function envOf(pod: V1Pod, name: string): string {
  return pod.spec?.containers?.[0]?.env?.find((e) => e.name === name)?.value ?? '';
}

export class FakeMembers {
  readonly #api: FakeApiServer;
  readonly #members = new Map<string, Member>();
  #nextIp = 10;
  /** Member ids in the Raft group once it formed; empty before. */
  voters: string[] = [];
  learners: string[] = [];
  leader: string | null = null;
  readonly calls: string[] = [];
  /** Membership changes the leader accepted, as `<kind> <member id>`. */
  readonly changes: string[] = [];
  /** Zones whose admin port does not answer. */
  readonly down = new Set<string>();

  constructor(api: FakeApiServer) {
    this.#api = api;
  }

  /** The kubelet: every pod without an IP starts (Running, Ready, an IP); every claim binds. */
  runPods(namespace: string): void {
    for (const claim of this.#api.objects(
      builtin.persistentVolumeClaim,
      namespace,
    ) as unknown as V1PersistentVolumeClaim[]) {
      if (claim.status?.phase === undefined || claim.status.phase === 'Pending') {
        this.#api.modify(builtin.persistentVolumeClaim, namespace, claim.metadata?.name as string, {
          status: { phase: 'Bound' },
        });
      }
    }
    for (const pod of this.#api.objects(builtin.pod, namespace) as unknown as V1Pod[]) {
      if (pod.status?.podIP) continue;
      const ip = `10.244.1.${this.#nextIp++}`;
      const memberId = envOf(pod, Env.memberId);
      this.#members.set(ip, {
        ip,
        zone: pod.metadata?.labels?.[Label.zone] as string,
        memberId,
        fleetId: envOf(pod, Env.fleetId),
        identitySeed: crypto.getRandomValues(new Uint8Array(32)),
        agreementSecret: crypto.getRandomValues(new Uint8Array(32)),
        clusterState: envOf(pod, Env.clusterState),
        certified: false,
      });
      this.#api.modify(builtin.pod, namespace, pod.metadata?.name as string, {
        spec: { nodeName: `node-${pod.metadata?.labels?.[Label.zone]}` },
        status: {
          phase: 'Running',
          podIP: ip,
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      });
    }
  }

  /** A fresh group forms once every `new` member is certified (as the vault waits for its peers). */
  #maybeForm(): void {
    if (this.leader !== null) return;
    const members = [...this.#members.values()];
    const initial = members.filter((m) => m.clusterState === 'new');
    if (initial.length === 0 || !initial.every((m) => m.certified)) return;
    this.voters = initial.map((m) => m.memberId);
    this.leader = this.voters[0] ?? null;
  }

  #trustAnchor(namespace: string): Uint8Array {
    const bundle = (this.#api.objects(builtin.configMap, namespace) as unknown as V1ConfigMap[]).find(
      (c) => c.data?.[DataKey.manufacturerCaPublicKey] !== undefined,
    );
    return hexToBytes(bundle?.data?.[DataKey.manufacturerCaPublicKey] as string);
  }

  #status(m: Member): AdminStatus {
    this.#maybeForm();
    const inGroup = this.voters.includes(m.memberId) || this.learners.includes(m.memberId);
    const isLeader = this.leader === m.memberId;
    return {
      member: m.memberId,
      zone: m.zone,
      role: !inGroup
        ? 'unknown'
        : isLeader
          ? 'leader'
          : this.learners.includes(m.memberId)
            ? 'learner'
            : 'follower',
      leader: inGroup ? this.leader : null,
      term: inGroup ? 1 : 0,
      commitIndex: inGroup ? 12 : 0,
      appliedIndex: inGroup ? 12 : 0,
      membership: inGroup ? { voters: this.voters, learners: this.learners } : { voters: [], learners: [] },
      progress: isLeader
        ? Object.fromEntries([...this.voters, ...this.learners].map((id) => [id, { matchIndex: 12 }]))
        : null,
      hsmKeyId: m.certified ? `key-${m.memberId}` : null,
    };
  }

  readonly connect: AdminConnector = (baseUrl) => {
    const ip = new URL(baseUrl).hostname;
    const caller: AdminCaller = {
      call: async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
        const m = this.#members.get(ip);
        if (m === undefined || this.down.has(m.zone)) throw new Error(`connect ECONNREFUSED ${ip}`);
        this.calls.push(`${method} ${path} ${m.zone}`);
        if (path === HttpPath.adminStatus) return this.#status(m) as T;
        if (path === HttpPath.identityRequest) {
          const subject = { fleet: m.fleetId, member: m.memberId, zone: m.zone };
          return { request: signedCertificateRequest(subject, m.identitySeed, m.agreementSecret) } as T;
        }
        if (path === HttpPath.identityCertificate) {
          const bytes = new Uint8Array(
            Buffer.from((body as { certificate: string }).certificate, 'base64url'),
          );
          const namespace = m.fleetId.split('/')[0] as string;
          verifyCertificate(bytes, {
            trustAnchors: [this.#trustAnchor(namespace)],
            now: Math.floor(Date.now() / 1000),
            fleet: m.fleetId,
            member: m.memberId,
          });
          m.certified = true;
          return { status: 'ok' } as T;
        }
        if (path === HttpPath.adminMembership) {
          const { kind, member } = body as { kind: string; member: string };
          if (m.memberId !== this.leader) throw new Error('421 not the leader');
          this.changes.push(`${kind} ${member}`);
          if (kind === 'add-learner') this.learners = [...this.learners, member];
          if (kind === 'promote') {
            this.learners = this.learners.filter((x) => x !== member);
            this.voters = [...this.voters, member];
          }
          if (kind === 'remove') {
            this.voters = this.voters.filter((x) => x !== member);
            this.learners = this.learners.filter((x) => x !== member);
          }
          return { status: 'ok' } as T;
        }
        if (path === HttpPath.adminTransferLeadership) {
          if (m.memberId !== this.leader) throw new Error('421 not the leader');
          const { to } = body as { to: string };
          this.changes.push(`transfer ${to}`);
          this.leader = to;
          return { status: 'ok', leader: to } as T;
        }
        throw new Error(`fake member: ${method} ${path} is not modelled`);
      },
    };
    return caller;
  };

  certified(): string[] {
    return [...this.#members.values()].filter((m) => m.certified).map((m) => m.zone);
  }

  /** Forgets the member behind a pod that was deleted (its replacement gets a new IP). */
  forget(zone: string): void {
    for (const [ip, m] of this.#members) if (m.zone === zone) this.#members.delete(ip);
  }
}
