// One level-based pass over a VaultFleet: read the fleet and what it owns from the informer caches,
// ask the members for their Raft state, take the rollout's single next step, write the status.
// Every pass does the same thing whatever happened before, so a pass that finds everything in
// place writes nothing (server-side applies of unchanged objects change nothing, and the status is
// written only when it differs). The order of a pass:
//   1. deleted fleet: delete what it made (claims and key Secrets only under retentionPolicy
//      Delete), then drop the finalizer;
//   2. paused: observe and report status, change nothing;
//   3. finalizer and the durable bootstrap record (annotations on the fleet);
//   4. the CA and admin key Secrets (created once, never replaced), the trust bundle, and the
//      objects every fleet has (fleet-objects.ts), by server-side apply with owner references;
//   5. observe: pods, claims, nodes from the caches, each running member's admin status;
//   6. certify the HSM identity of any running member that has none yet;
//   7. rollout.ts nextStep -> members-plan.ts planStep -> perform the operations in order;
//   8. the fleet-deployment attestation (attestation-publisher.ts), when spec.directoryRef names a
//      KeyDirectory: one step of it per pass, never blocking on the directory;
//   9. an Event for the decision, the status, the fleet gauges.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ConfigMap, V1Node, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../log.ts';
import { forgetFleet, type OperatorMetrics } from '../../metrics.ts';
import type { KubeClient } from '../../runtime/client.ts';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.ts';
import type { EventType } from '../../runtime/events.ts';
import {
  builtin,
  kindLookup,
  objectPath,
  type ResourceType,
  type Unstructured,
} from '../../runtime/resource.ts';
import { memberConfigHash } from '../../specs/config-hash.ts';
import { fleetName, fleetNamespace, Label } from '../../specs/labels.ts';
import {
  attestationConfigMapName,
  manufacturerCaSecretName,
  memberCertificatesName,
  memberName,
  operatorAdminKeySecretName,
  trustBundleName,
} from '../../specs/names.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from '../../specs/options.ts';
import type { RandomBytes } from '../../specs/secrets.ts';
import { DataKey } from '../../specs/vault-contract.ts';
import {
  memberCertificateFieldManager,
  memberCertificatePatch,
  readMemberCertificates,
} from './attestation-certificates.ts';
import { certificateMatches, imageDigest } from './attestation-inputs.ts';
import { attestationSignersPatch, ensureAttestationKey, signerFieldManager } from './attestation-key.ts';
import { type AttestationOutcome, FleetAttestor } from './attestation-publisher.ts';
import type { ComputedCondition } from './conditions.ts';
import { fleetObjects } from './fleet-objects.ts';
import {
  type AdminConnector,
  LEADER_CALL_TIMEOUT_MS,
  type MemberAnswer,
  podAdminUrl,
  type RaftObservation,
  raftObservation,
  readStatuses,
} from './member-admin.ts';
import {
  claimMemberId,
  freshMemberId,
  memberZones,
  podMemberId,
  withClaimMemberId,
  withPodMemberId,
} from './member-identity.ts';
import { type Operation, planStep } from './members-plan.ts';
import { observeMembers } from './observe-members.ts';
import type { FleetObservation } from './observed.ts';
import {
  ensureFleetKeys,
  type FleetKeys,
  fleetTrustBundle,
  type KeySecretStore,
  provisionMemberIdentity,
  readKeySecret,
} from './provisioning.ts';
import { hasFormed } from './quorum.ts';
import { nextStep, type RolloutStep } from './rollout.ts';
import { desiredStatus, recordFleetMetrics, statusChanged, statusPatch } from './status-writer.ts';

export const vaultFleetType: ResourceType = {
  group: 'keyfleet.dev',
  version: 'v1alpha1',
  plural: 'vaultfleets',
  kind: 'VaultFleet',
  namespaced: true,
};

/** The kinds a fleet owns besides those the runtime already names. */
export const ownedKinds = {
  serviceAccount: {
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
  },
  networkPolicy: {
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
    namespaced: true,
  },
  podDisruptionBudget: {
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
  },
  node: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
} as const satisfies Record<string, ResourceType>;

const typeOf = kindLookup(
  [
    builtin.pod,
    builtin.persistentVolumeClaim,
    builtin.secret,
    builtin.service,
    builtin.configMap,
    ownedKinds.serviceAccount,
    ownedKinds.networkPolicy,
    ownedKinds.podDisruptionBudget,
  ],
  'VaultFleet',
);

export const FLEET_FINALIZER = 'keyfleet.dev/vaultfleet-cleanup';
/** Field manager of the fleet's own metadata (finalizer, bootstrap record), apart from its children. */
export const FLEET_METADATA_MANAGER = 'keyfleet-operator-vaultfleet';

/** The durable bootstrap record rollout.ts relies on (FleetObservation.bootstrapped, bootstrapZones). */
export const FleetAnnotation = {
  bootstrapZones: 'keyfleet.dev/bootstrap-zones',
  bootstrapped: 'keyfleet.dev/bootstrapped',
} as const;

/** How often a fleet is looked at again while a step is under way, and once it is settled. */
export const REQUEUE_BUSY_MS = 2_000;
export const REQUEUE_SETTLED_MS = 15_000;

/** What the reconcile reads: the informer caches, already filtered to one fleet's objects. */
export interface FleetCaches {
  fleet(namespace: string, name: string): VaultFleet | undefined;
  pods(fleet: VaultFleet): V1Pod[];
  claims(fleet: VaultFleet): V1PersistentVolumeClaim[];
  secrets(fleet: VaultFleet): V1Secret[];
  nodes(): V1Node[];
  /** Pods of the KeyDirectory `name` in `namespace` (kd-contract labels); none if not watched. */
  directoryPods?(namespace: string, name: string): V1Pod[];
}

export interface EventSink {
  event(regarding: Unstructured, type: EventType, reason: string, note: string, action?: string): void;
}

export interface ReconcileDeps {
  readonly client: KubeClient;
  readonly caches: FleetCaches;
  readonly events: EventSink;
  readonly connect: AdminConnector;
  readonly randomBytes: RandomBytes;
  readonly now: () => Date;
  readonly metrics?: OperatorMetrics;
  readonly options?: SpecOptions;
  readonly log: Logger;
}

/** The fleet's attestation signing key (attestation-key.ts), beside the keys of provisioning.ts. */
interface AttestationKey {
  readonly attestationSeed: Uint8Array;
}

export interface ReconcileOutcome {
  readonly requeueAfter?: number;
  /** The step taken, for tests and logs; absent for a deleted or missing fleet. */
  readonly step?: RolloutStep;
}

/** Whether a fleet object is one of its data-bearing objects that retentionPolicy Retain keeps. */
function retainable(o: { metadata?: { labels?: Record<string, string> } }): boolean {
  return o.metadata?.labels?.[Label.retentionPolicy] !== undefined;
}

function asUnstructured(o: unknown): Unstructured {
  return o as Unstructured;
}

/** Member ids chosen during one pass, before the caches hold the claims that record them. */
interface PassIds {
  readonly created: Map<string, string>;
}

export class FleetReconciler {
  readonly #d: ReconcileDeps;
  /** Last Wait/None reason per fleet, so an unchanged wait is not repeated as a new Event. */
  readonly #lastReason = new Map<string, string>();
  /** Last attestation failure per fleet, so it is a Warning Event once, not once per pass. */
  readonly #lastAttestFailure = new Map<string, string>();
  readonly #attestor: FleetAttestor;

  constructor(deps: ReconcileDeps) {
    this.#d = deps;
    this.#attestor = new FleetAttestor({
      client: deps.client,
      now: () => deps.now(),
      event: (fleet, type, reason, note) => this.#event(fleet, type, reason, note),
      log: deps.log,
    });
  }

  async reconcile(namespace: string, name: string, signal: AbortSignal): Promise<ReconcileOutcome> {
    const fleet = this.#d.caches.fleet(namespace, name);
    if (fleet === undefined) {
      this.#lastReason.delete(`${namespace}/${name}`);
      return {};
    }
    if (fleet.metadata.deletionTimestamp !== undefined) {
      await this.#cleanUp(fleet, signal);
      return {};
    }
    const paused = fleet.spec.paused;
    if (!paused) await this.#ensureMetadata(fleet, {}, signal);
    const keys = paused ? this.#existingKeys(fleet) : await this.#ensureShared(fleet, signal);
    const { observation, answers, raft } = await this.#observe(fleet, keys);
    let provisioned = 0;
    if (!paused && keys !== undefined) provisioned = await this.#provision(fleet, keys, answers);
    if (
      !paused &&
      hasFormed(observation) &&
      fleet.metadata.annotations?.[FleetAnnotation.bootstrapped] !== 'true'
    ) {
      await this.#ensureMetadata(fleet, { [FleetAnnotation.bootstrapped]: 'true' }, signal);
    }
    const step = nextStep(observation);
    if (!paused) await this.#perform(fleet, step, observation, raft, keys, signal);
    this.#record(fleet, step);
    const attested =
      paused || keys === undefined
        ? undefined
        : await this.#attest(fleet, observation, answers, raft, keys, signal);
    const status = desiredStatus(fleet, observation, step, this.#d.now, {
      ...(attested ? { conditions: [attested.condition] } : {}),
      ...(attested?.status ? { attestation: attested.status } : {}),
    });
    if (statusChanged(fleet, status)) {
      await this.#d.client.applyStatus(vaultFleetType, statusPatch(fleet, status), { signal });
    }
    if (this.#d.metrics) recordFleetMetrics(this.#d.metrics, fleet, observation);
    const busy =
      provisioned > 0 || (step.kind !== 'None' && step.kind !== 'Wait') || step.reason !== 'UpToDate';
    const requeueAfter = Math.min(
      busy && !paused ? REQUEUE_BUSY_MS : REQUEUE_SETTLED_MS,
      attested?.requeueAfter ?? Number.POSITIVE_INFINITY,
    );
    return { step, requeueAfter };
  }

  // ---- metadata -------------------------------------------------------------------------------

  /**
   * Applies the finalizer and the bootstrap annotations this operator owns. Always the full set
   * (server-side apply removes what a manager stops sending), and only when something would change.
   */
  async #ensureMetadata(
    fleet: VaultFleet,
    add: Record<string, string>,
    signal: AbortSignal,
    finalizer = true,
  ): Promise<void> {
    const current = fleet.metadata.annotations ?? {};
    const annotations: Record<string, string> = {};
    for (const key of Object.values(FleetAnnotation)) {
      const value = add[key] ?? current[key];
      if (value !== undefined) annotations[key] = value;
    }
    const hasFinalizer = fleet.metadata.finalizers?.includes(FLEET_FINALIZER) ?? false;
    const annotationsSame = Object.entries(annotations).every(([k, v]) => current[k] === v);
    if (hasFinalizer === finalizer && annotationsSame) return;
    const applied = await this.#d.client.apply<VaultFleet>(
      vaultFleetType,
      asUnstructured({
        apiVersion: fleet.apiVersion,
        kind: fleet.kind,
        metadata: {
          name: fleetName(fleet),
          namespace: fleetNamespace(fleet),
          uid: fleet.metadata.uid,
          finalizers: finalizer ? [FLEET_FINALIZER] : [],
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        },
      }) as unknown as VaultFleet,
      { signal, fieldManager: FLEET_METADATA_MANAGER },
    );
    // Later steps of this pass read the record (bootstrapZones) from the fleet object.
    fleet.metadata.annotations = applied.metadata.annotations ?? annotations;
    fleet.metadata.finalizers = applied.metadata.finalizers;
  }

  // ---- shared objects -------------------------------------------------------------------------

  #secretByName(fleet: VaultFleet, name: string): V1Secret | undefined {
    return this.#d.caches.secrets(fleet).find((s) => s.metadata?.name === name);
  }

  /** The keys, if both Secrets exist; a paused fleet gets none created. */
  #existingKeys(fleet: VaultFleet): FleetKeys | undefined {
    const ca = this.#secretByName(fleet, manufacturerCaSecretName(fleetName(fleet)));
    const admin = this.#secretByName(fleet, operatorAdminKeySecretName(fleetName(fleet)));
    if (ca === undefined || admin === undefined) return undefined;
    return {
      manufacturerCaSeed: readKeySecret(ca, DataKey.manufacturerCaSeed, DataKey.manufacturerCaPublicKey),
      operatorAdminSeed: readKeySecret(admin, DataKey.operatorAdminSeed, DataKey.operatorAdminPublicKey),
    };
  }

  #keySecretStore(fleet: VaultFleet, signal: AbortSignal): KeySecretStore {
    const client = this.#d.client;
    const ns = fleetNamespace(fleet);
    return {
      // The cache first; a Secret created a moment ago may not have reached it yet.
      get: async (name) =>
        this.#secretByName(fleet, name) ??
        ((await client.tryGet(builtin.secret, ns, name, signal)) as V1Secret | undefined),
      createIfAbsent: async (secret) => {
        try {
          return (await client.create(builtin.secret, asUnstructured(secret), signal)) as V1Secret;
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          const stored = await client.get(builtin.secret, ns, secret.metadata?.name as string, signal);
          return stored as V1Secret;
        }
      },
    };
  }

  async #ensureShared(fleet: VaultFleet, signal: AbortSignal): Promise<FleetKeys & AttestationKey> {
    const client = this.#d.client;
    const store = this.#keySecretStore(fleet, signal);
    const { keys, created } = await ensureFleetKeys(fleet, store, this.#d.randomBytes);
    const attestation = await ensureAttestationKey(fleet, store, this.#d.randomBytes);
    if (attestation.created) created.push(`attestation key of ${fleetName(fleet)}`);
    for (const name of created) {
      this.#event(fleet, 'Normal', 'CreatedKey', `generated the fleet key Secret ${name}`);
    }
    await client.apply(builtin.configMap, asUnstructured(fleetTrustBundle(fleet, keys)), { signal });
    for (const obj of fleetObjects(fleet, this.#options())) {
      await client.apply(typeOf(obj.kind), asUnstructured(obj), { signal });
    }
    return { ...keys, attestationSeed: attestation.seed };
  }

  #options(): SpecOptions {
    return this.#d.options ?? DEFAULT_SPEC_OPTIONS;
  }

  // ---- observation ----------------------------------------------------------------------------

  async #observe(
    fleet: VaultFleet,
    keys: FleetKeys | undefined,
  ): Promise<{
    observation: FleetObservation;
    answers: Awaited<ReturnType<typeof readStatuses>>;
    raft: RaftObservation;
  }> {
    const pods = this.#d.caches.pods(fleet);
    const claims = this.#d.caches.claims(fleet);
    const answers =
      keys === undefined ? [] : await readStatuses(pods, this.#d.connect, keys.operatorAdminSeed);
    for (const a of answers) {
      if (a.error !== undefined)
        this.#d.log.debug('member status unavailable', { zone: a.zone, err: a.error });
    }
    const name = fleetName(fleet);
    const zones = new Set<string>(fleet.spec.zones);
    for (const o of [...pods, ...claims]) {
      const z = o.metadata?.labels?.[Label.zone];
      if (z !== undefined) zones.add(z);
    }
    const byMember = memberZones(name, zones, pods, claims);
    const raft = raftObservation(answers, (id) => byMember.get(id));
    const members = observeMembers({
      specZones: fleet.spec.zones,
      pods,
      claims,
      nodes: this.#d.caches.nodes(),
      raft: raft.raft,
      reports: raft.reports,
      now: this.#d.now(),
    });
    const annotations = fleet.metadata.annotations ?? {};
    const recordedZones = annotations[FleetAnnotation.bootstrapZones];
    const observation: FleetObservation = {
      spec: fleet.spec,
      desiredConfigHash: memberConfigHash(fleet.spec),
      bootstrapped: annotations[FleetAnnotation.bootstrapped] === 'true',
      ...(recordedZones !== undefined
        ? { bootstrapZones: recordedZones.split(',').filter((z) => z !== '') }
        : {}),
      members,
      raft: raft.raft,
    };
    return { observation, answers, raft };
  }

  // ---- provisioning ---------------------------------------------------------------------------

  /** Certifies every answering member that reports no HSM key yet; returns how many were. */
  async #provision(
    fleet: VaultFleet,
    keys: FleetKeys,
    answers: Awaited<ReturnType<typeof readStatuses>>,
  ): Promise<number> {
    const pods = this.#d.caches.pods(fleet);
    const unrecorded = await this.#unrecordedCertificate(fleet);
    const todo = answers.filter((a) => a.status !== null && (!a.status.hsmKeyId || unrecorded(a)));
    const results = await Promise.allSettled(
      todo.map(async ({ zone }) => {
        const pod = pods.find((p) => p.metadata?.labels?.[Label.zone] === zone);
        const url = pod === undefined ? undefined : podAdminUrl(pod);
        if (url === undefined) throw new Error(`member ${zone} has no pod IP`);
        const admin = this.#d.connect(url, keys.operatorAdminSeed);
        const memberId = (pod && podMemberId(pod)) ?? memberName(fleetName(fleet), zone);
        const certificate = await provisionMemberIdentity(
          fleet,
          { zone, memberId },
          admin,
          keys,
          this.#d.now(),
        );
        // Recorded for the attestation, which lists every member's certificate.
        await this.#d.client.apply(
          builtin.configMap,
          asUnstructured(memberCertificatePatch(fleet, memberId, certificate)),
          { fieldManager: memberCertificateFieldManager(memberId) },
        );
        return zone;
      }),
    );
    let done = 0;
    results.forEach((r, i) => {
      const zone = todo[i]?.zone as string;
      if (r.status === 'fulfilled') {
        done++;
        this.#event(fleet, 'Normal', 'CertifiedMember', `certified the HSM identity key of member ${zone}`);
      } else {
        this.#event(
          fleet,
          'Warning',
          'CertificationFailed',
          `could not certify the HSM identity of member ${zone}: ${(r.reason as Error).message}`,
        );
      }
    });
    return done;
  }

  /**
   * For a fleet that attests: whether a certified member has no matching certificate on record
   * (the operator stopped between installing and recording it). Such a member is certified again
   * (the vault accepts a new certificate for the same keys) so the attestation can list it.
   */
  async #unrecordedCertificate(fleet: VaultFleet): Promise<(a: MemberAnswer) => boolean> {
    if (fleet.spec.directoryRef === undefined) return () => false;
    const name = fleetName(fleet);
    const recorded = readMemberCertificates(
      (await this.#d.client.tryGet(builtin.configMap, fleetNamespace(fleet), memberCertificatesName(name))) as
        | V1ConfigMap
        | undefined,
    );
    const fleetIdentity = `${fleetNamespace(fleet)}/${name}`;
    return (a) =>
      a.status !== null &&
      !!a.status.hsmKeyId &&
      !certificateMatches(
        recorded.get(a.status.member),
        fleetIdentity,
        a.status.member,
        a.zone,
        a.status.hsmKeyId,
      );
  }

  // ---- the step -------------------------------------------------------------------------------

  async #perform(
    fleet: VaultFleet,
    step: RolloutStep,
    observation: FleetObservation,
    raft: RaftObservation,
    keys: FleetKeys | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (
      step.kind === 'CreateMember' &&
      step.clusterState === 'new' &&
      observation.bootstrapZones === undefined
    ) {
      // Durable before the first member exists: a later pass must know which initial membership
      // the running members were started with (rollout.ts refuses to mix two).
      await this.#ensureMetadata(
        fleet,
        { [FleetAnnotation.bootstrapZones]: fleet.spec.zones.join(',') },
        signal,
      );
    }
    const ops = planStep(fleet, step, { randomBytes: this.#d.randomBytes, options: this.#options() });
    const pass: PassIds = { created: new Map() };
    for (const op of ops)
      await this.#operate(fleet, this.#withMemberIds(fleet, step, op, raft, pass), raft, keys, signal);
  }

  /** The id the zone's member runs as: its pod's, else the one its claim records (member-identity.ts). */
  #currentId(fleet: VaultFleet, zone: string, pass: PassIds): string {
    const name = fleetName(fleet);
    const created = pass.created.get(zone);
    if (created !== undefined) return created;
    const pod = this.#d.caches.pods(fleet).find((p) => p.metadata?.labels?.[Label.zone] === zone);
    const running = pod === undefined ? undefined : podMemberId(pod);
    if (running !== undefined) return running;
    const claim = this.#d.caches.claims(fleet).find((c) => c.metadata?.labels?.[Label.zone] === zone);
    return claim === undefined ? memberName(name, zone) : claimMemberId(claim, name, zone);
  }

  /** The operation with the member ids of member-identity.ts in place of the zone names. */
  #withMemberIds(
    fleet: VaultFleet,
    step: RolloutStep,
    op: Operation,
    raft: RaftObservation,
    pass: PassIds,
  ): Operation {
    const name = fleetName(fleet);
    if (op.op === 'create-if-absent') {
      const zone = (op.object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.[
        Label.zone
      ];
      if (zone === undefined) return op;
      if (
        op.object.kind === 'PersistentVolumeClaim' &&
        step.kind === 'CreateMember' &&
        step.clusterState === 'existing'
      ) {
        if (this.#cached(fleet, 'PersistentVolumeClaim', op.object.metadata?.name as string)) return op;
        // A new volume after the fleet formed: a member id never used before (never a voter's old id).
        const id = freshMemberId(name, zone, this.#d.randomBytes);
        pass.created.set(zone, id);
        return { ...op, object: withClaimMemberId(op.object as V1PersistentVolumeClaim, id) };
      }
      if (op.object.kind === 'Pod') {
        const id = this.#currentId(fleet, zone, pass);
        return id === memberName(name, zone)
          ? op
          : { ...op, object: withPodMemberId(op.object as V1Pod, id) };
      }
      return op;
    }
    if (op.op !== 'leader-admin') return op;
    const inGroup = (zone: string) => raft.groupIds.get(zone) ?? this.#currentId(fleet, zone, pass);
    switch (step.kind) {
      case 'AddLearner':
      case 'Promote':
        return { ...op, body: { ...op.body, member: this.#currentId(fleet, step.zone, pass) } };
      case 'RemoveMember':
        return { ...op, body: { ...op.body, member: inGroup(step.zone) } };
      case 'TransferLeadership':
        return { ...op, body: { ...op.body, to: inGroup(step.to) } };
      default:
        return op;
    }
  }

  async #operate(
    fleet: VaultFleet,
    op: Operation,
    raft: RaftObservation,
    keys: FleetKeys | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const client = this.#d.client;
    const ns = fleetNamespace(fleet);
    switch (op.op) {
      case 'create-if-absent': {
        const type = typeOf(op.object.kind);
        const name = op.object.metadata?.name as string;
        if (this.#cached(fleet, op.object.kind, name)) return;
        try {
          await client.create(type, asUnstructured(op.object), signal);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
        return;
      }
      case 'delete': {
        const type = typeOf(op.ref.kind);
        if (op.gracePeriodSeconds === undefined) {
          await client.delete(type, op.ref.namespace, op.ref.name, { signal });
          return;
        }
        // KubeClient.delete has no gracePeriodSeconds; a node that will not confirm needs 0.
        const res = await client.transport.request({
          method: 'DELETE',
          path: objectPath(type, op.ref.namespace, op.ref.name),
          body: JSON.stringify({
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            gracePeriodSeconds: op.gracePeriodSeconds,
          }),
          signal,
        });
        if (res.status !== 200 && res.status !== 202 && res.status !== 404) {
          throw new Error(`force-delete ${op.ref.kind} ${ns}/${op.ref.name}: HTTP ${res.status} ${res.body}`);
        }
        return;
      }
      case 'leader-admin': {
        const leaderZone = raft.leaderZone;
        const pod = this.#d.caches.pods(fleet).find((p) => p.metadata?.labels?.[Label.zone] === leaderZone);
        const url = pod === undefined ? undefined : podAdminUrl(pod);
        if (keys === undefined || url === undefined) {
          throw new Error(
            `no reachable leader for ${op.path}: leader ${leaderZone ?? 'unknown'} has no pod IP`,
          );
        }
        await this.#d
          .connect(url, keys.operatorAdminSeed, { timeoutMs: LEADER_CALL_TIMEOUT_MS })
          .call('POST', op.path, op.body);
        return;
      }
    }
  }

  #cached(fleet: VaultFleet, kind: string | undefined, name: string): boolean {
    const c = this.#d.caches;
    const named = (o: { metadata?: { name?: string } }) => o.metadata?.name === name;
    if (kind === 'Pod') return c.pods(fleet).some(named);
    if (kind === 'PersistentVolumeClaim') return c.claims(fleet).some(named);
    if (kind === 'Secret') return c.secrets(fleet).some(named);
    return false;
  }

  // ---- deletion -------------------------------------------------------------------------------

  async #cleanUp(fleet: VaultFleet, signal: AbortSignal): Promise<void> {
    this.#lastReason.delete(`${fleetNamespace(fleet)}/${fleetName(fleet)}`);
    if (!fleet.metadata.finalizers?.includes(FLEET_FINALIZER)) return;
    const client = this.#d.client;
    const ns = fleetNamespace(fleet);
    const keepData = fleet.spec.storage.retentionPolicy === 'Retain';
    const targets: Array<{ type: ResourceType; name: string }> = [];
    for (const pod of this.#d.caches.pods(fleet))
      targets.push({ type: builtin.pod, name: pod.metadata?.name as string });
    for (const o of fleetObjects(fleet, this.#options())) {
      targets.push({ type: typeOf(o.kind), name: o.metadata?.name as string });
    }
    targets.push({ type: builtin.configMap, name: trustBundleName(fleetName(fleet)) });
    targets.push({ type: builtin.configMap, name: attestationConfigMapName(fleetName(fleet)) });
    targets.push({ type: builtin.configMap, name: memberCertificatesName(fleetName(fleet)) });
    await this.#forgetAttestationSigner(fleet, signal);
    for (const claim of this.#d.caches.claims(fleet)) {
      if (!keepData || !retainable(claim)) {
        targets.push({ type: builtin.persistentVolumeClaim, name: claim.metadata?.name as string });
      }
    }
    for (const secret of this.#d.caches.secrets(fleet)) {
      if (!keepData || !retainable(secret))
        targets.push({ type: builtin.secret, name: secret.metadata?.name as string });
    }
    for (const t of targets) {
      try {
        await client.delete(t.type, ns, t.name, { signal });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.#event(
      fleet,
      'Normal',
      'CleanedUp',
      `deleted ${targets.length} objects of the fleet${keepData ? '; member claims and key Secrets are retained (retentionPolicy Retain)' : ''}`,
    );
    await this.#ensureMetadata(fleet, {}, signal, false);
    if (this.#d.metrics) forgetFleet(this.#d.metrics, ns, fleetName(fleet), fleet.spec.zones);
  }

  // ---- attestation ----------------------------------------------------------------------------

  async #attest(
    fleet: VaultFleet,
    observation: FleetObservation,
    answers: Awaited<ReturnType<typeof readStatuses>>,
    raft: RaftObservation,
    keys: FleetKeys & Partial<AttestationKey>,
    signal: AbortSignal,
  ): Promise<AttestationOutcome | undefined> {
    if (keys.attestationSeed === undefined) return undefined;
    const key = `${fleetNamespace(fleet)}/${fleetName(fleet)}`;
    const ns = fleetNamespace(fleet);
    const kd = fleet.spec.directoryRef?.name;
    const pods = this.#d.caches.pods(fleet);
    try {
      const outcome = await this.#attestor.attest({
        fleet,
        observed: {
          settled: raft.raft !== null && raft.raft.leader !== null && raft.raft.pendingChange === null,
          specZones: fleet.spec.zones,
          voters: raft.raft?.voters ?? [],
          memberIds: raft.groupIds,
          hsmKeyIds: new Map(
            observation.members.flatMap((m) => (m.hsmKeyId === undefined ? [] : [[m.zone, m.hsmKeyId]])),
          ),
          opaqueServerPublicKeys: answers.map((a) => a.status?.opaqueServerPublicKey),
          image: imageDigest(fleet.spec.image, pods, observation.desiredConfigHash),
          imageRef: fleet.spec.image,
          guessLimit: fleet.spec.guessLimit,
        },
        directoryPods: kd === undefined ? [] : (this.#d.caches.directoryPods?.(ns, kd) ?? []),
        manufacturerCaSeed: keys.manufacturerCaSeed,
        attestationSeed: keys.attestationSeed,
        signal,
      });
      this.#lastAttestFailure.delete(key);
      return outcome;
    } catch (err) {
      if (signal.aborted) throw err;
      const message = (err as Error).message;
      if (this.#lastAttestFailure.get(key) !== message) {
        this.#lastAttestFailure.set(key, message);
        this.#event(fleet, 'Warning', 'AttestationFailed', `attestation step failed: ${message}`);
      }
      const condition: ComputedCondition = {
        type: 'Attested',
        status: 'False',
        reason: 'AttestationFailed',
        message,
        observedGeneration: fleet.metadata.generation ?? 0,
      };
      return { condition, requeueAfter: REQUEUE_BUSY_MS };
    }
  }

  /** Removes this fleet's key from its KeyDirectory's signers ConfigMap (its field manager's entry). */
  async #forgetAttestationSigner(fleet: VaultFleet, signal: AbortSignal): Promise<void> {
    const kd = fleet.spec.directoryRef?.name;
    if (kd === undefined) return;
    const patch = attestationSignersPatch(fleet, kd, undefined);
    const ns = fleetNamespace(fleet);
    if (
      (await this.#d.client.tryGet(builtin.configMap, ns, patch.metadata?.name as string, signal)) ===
      undefined
    )
      return;
    await this.#d.client.apply(builtin.configMap, asUnstructured(patch), {
      signal,
      fieldManager: signerFieldManager(fleet),
    });
  }

  // ---- events ---------------------------------------------------------------------------------

  #event(fleet: VaultFleet, type: EventType, reason: string, note: string): void {
    this.#d.events.event(asUnstructured(fleet), type, reason, note);
  }

  /** Every action is an Event; a wait only when its reason changes (not once per pass). */
  #record(fleet: VaultFleet, step: RolloutStep): void {
    const key = `${fleetNamespace(fleet)}/${fleetName(fleet)}`;
    const acting = step.kind !== 'Wait' && step.kind !== 'None';
    if (!acting && this.#lastReason.get(key) === step.reason) return;
    this.#lastReason.set(key, acting ? '' : step.reason);
    this.#event(fleet, step.eventType, step.reason, step.message);
  }
}
