// One level-based pass over a KeyDirectory:
//   1. deleted: nothing to do (everything it made carries its owner reference);
//   2. the key Secrets (VRF, signing, one per witness), created once and never replaced, and the
//      public keys ConfigMap built from them;
//   3. the writer Lease (created once, empty; from then on only the publishers write it);
//   4. by server-side apply: ServiceAccounts, Role, RoleBinding, Services, claims, the publisher
//      and reader Deployments, one StatefulSet per witness; witnesses beyond spec.witnesses are
//      deleted (their key Secrets stay: a witness scaled back up keeps its identity);
//   5. observe the pods and ask the writer and the witnesses (observe.ts);
//   6. Events for what a person wants to know (a new writer, a halted witness), the status, the
//      directory gauges.
// A paused directory is only observed. Nothing here blocks: a pass that must wait requeues.

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import { canonicalJson } from '@keyfleet/sdk/attestation/canonical-json';
import type { V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Logger } from '../../log.ts';
import type { OperatorMetrics } from '../../metrics.ts';
import type { KubeClient } from '../../runtime/client.ts';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.ts';
import type { EventType } from '../../runtime/events.ts';
import { builtin, kindLookup, type ResourceType, type Unstructured } from '../../runtime/resource.ts';
import {
  directoryServiceAccounts,
  publisherLease,
  publisherRole,
  publisherRoleBinding,
} from '../../specs/directory/access.ts';
import {
  DirectoryKeyFile,
  publicKeyOf,
  publicKeysConfigMap,
  signingKeySecret,
  vrfKeySecret,
  witnessKeySecret,
} from '../../specs/directory/keys.ts';
import {
  directoryName,
  directoryNames,
  directoryNamespace,
  WITNESS_LABEL,
} from '../../specs/directory/names.ts';
import { directoryServices } from '../../specs/directory/services.ts';
import { directoryClaims } from '../../specs/directory/storage.ts';
import {
  publisherDeployment,
  readerDeployment,
  witnessStatefulSet,
} from '../../specs/directory/workloads.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from '../../specs/options.ts';
import type { RandomBytes } from '../../specs/secrets.ts';
import { type JsonGetter, observeDirectory } from './observe.ts';
import type { DirectoryObservation } from './observed.ts';
import { desiredDirectoryStatus } from './status.ts';

export const keyDirectoryType: ResourceType = {
  group: 'keyfleet.dev',
  version: 'v1alpha1',
  plural: 'keydirectories',
  kind: 'KeyDirectory',
  namespaced: true,
};

export const directoryKinds = {
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  statefulSet: {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
  },
  serviceAccount: {
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
  },
  role: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'roles',
    kind: 'Role',
    namespaced: true,
  },
  roleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;

const typeOf = kindLookup(
  [...Object.values(directoryKinds), builtin.service, builtin.persistentVolumeClaim, builtin.configMap],
  'KeyDirectory',
);

export const REQUEUE_BUSY_MS = 3_000;
export const REQUEUE_SETTLED_MS = 10_000;

/** What the reconcile reads from the informer caches, already filtered to one directory. */
export interface DirectoryCaches {
  directory(namespace: string, name: string): KeyDirectory | undefined;
  pods(kd: KeyDirectory): V1Pod[];
  secrets(kd: KeyDirectory): V1Secret[];
  statefulSets(kd: KeyDirectory): V1StatefulSet[];
}

export interface DirectoryReconcileDeps {
  readonly client: KubeClient;
  readonly caches: DirectoryCaches;
  readonly events: {
    event(regarding: Unstructured, type: EventType, reason: string, note: string, action?: string): void;
  };
  readonly get: JsonGetter;
  readonly randomBytes?: RandomBytes;
  readonly now?: () => Date;
  readonly metrics?: OperatorMetrics;
  readonly options?: SpecOptions;
  readonly log: Logger;
}

const asUnstructured = (o: unknown) => o as Unstructured;

/** The directory's public keys as hex, from its key Secrets. */
interface KeysHex {
  vrf?: string;
  signing?: string;
  witnesses: Map<string, string>;
}

export class DirectoryReconciler {
  readonly #d: DirectoryReconcileDeps;
  readonly #randomBytes: RandomBytes;
  readonly #now: () => Date;
  /** Per directory: the epoch last seen and since when (ms), for Publishing=Stalled. */
  readonly #epochSeen = new Map<string, { epoch: number; atMs: number }>();

  constructor(d: DirectoryReconcileDeps) {
    this.#d = d;
    this.#randomBytes = d.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    this.#now = d.now ?? (() => new Date());
  }

  async reconcile(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<{ requeueAfter: number } | undefined> {
    const kd = this.#d.caches.directory(namespace, name);
    if (kd === undefined || kd.metadata.deletionTimestamp !== undefined) {
      this.#epochSeen.delete(`${namespace}/${name}`);
      this.#forgetMetrics(namespace, name);
      return undefined;
    }
    const paused = kd.spec.paused;
    const keys = paused ? this.#existingKeys(kd) : await this.#ensureKeys(kd, signal);
    if (!paused) await this.#applyObjects(kd, keys, signal);
    const observed = await this.#observe(kd, keys);
    this.#announce(kd, observed);
    const status = desiredDirectoryStatus(kd, observed, keys, this.#now);
    if (canonicalJson(kd.status ?? {}) !== canonicalJson(status)) {
      await this.#d.client.applyStatus(
        keyDirectoryType,
        asUnstructured({ apiVersion: kd.apiVersion, kind: kd.kind, metadata: { name, namespace }, status }),
        { signal },
      );
    }
    this.#recordMetrics(kd, status);
    const settled = status.phase === 'Available' && (status.pendingChanges ?? 0) === 0;
    return { requeueAfter: settled ? REQUEUE_SETTLED_MS : REQUEUE_BUSY_MS };
  }

  // ---- keys -----------------------------------------------------------------------------------

  #secret(kd: KeyDirectory, name: string): V1Secret | undefined {
    return this.#d.caches.secrets(kd).find((s) => s.metadata?.name === name);
  }

  #keysFrom(kd: KeyDirectory, find: (name: string) => V1Secret | undefined): KeysHex {
    const names = directoryNames(kd);
    const hex = (s: V1Secret | undefined, key: string) =>
      s === undefined ? undefined : bytesToHex(publicKeyOf(s, key));
    const witnesses = new Map<string, string>();
    for (let i = 0; i < kd.spec.witnesses; i++) {
      const key = hex(find(names.witnessKey(i)), DirectoryKeyFile.witnessPublic);
      if (key !== undefined) witnesses.set(names.witnessPod(i), key);
    }
    const vrf = hex(find(names.vrfKey), DirectoryKeyFile.vrfPublic);
    const signing = hex(find(names.signingKey), DirectoryKeyFile.signingPublic);
    return {
      ...(vrf === undefined ? {} : { vrf }),
      ...(signing === undefined ? {} : { signing }),
      witnesses,
    };
  }

  #existingKeys(kd: KeyDirectory): KeysHex {
    return this.#keysFrom(kd, (n) => this.#secret(kd, n));
  }

  async #ensureKeys(kd: KeyDirectory, signal: AbortSignal): Promise<KeysHex> {
    const names = directoryNames(kd);
    const wanted: [string, () => V1Secret][] = [
      [names.vrfKey, () => vrfKeySecret(kd, this.#randomBytes)],
      [names.signingKey, () => signingKeySecret(kd, this.#randomBytes)],
    ];
    for (let i = 0; i < kd.spec.witnesses; i++) {
      wanted.push([names.witnessKey(i), () => witnessKeySecret(kd, i, this.#randomBytes)]);
    }
    const found = new Map<string, V1Secret>();
    for (const [name, build] of wanted)
      found.set(name, await this.#createSecretOnce(kd, name, build, signal));
    const keys = this.#keysFrom(kd, (n) => found.get(n));
    if (keys.vrf !== undefined && keys.signing !== undefined) {
      const witnesses = new Map([...keys.witnesses].map(([pod, k]) => [pod, Buffer.from(k, 'hex')]));
      const cm = publicKeysConfigMap(kd, {
        vrf: Buffer.from(keys.vrf, 'hex'),
        signing: Buffer.from(keys.signing, 'hex'),
        witnesses,
      });
      await this.#d.client.apply(builtin.configMap, asUnstructured(cm), { signal });
    }
    return keys;
  }

  /** The Secret as stored; created from `build` only if it does not exist (never replaced). */
  async #createSecretOnce(
    kd: KeyDirectory,
    name: string,
    build: () => V1Secret,
    signal: AbortSignal,
  ): Promise<V1Secret> {
    const ns = directoryNamespace(kd);
    const cached =
      this.#secret(kd, name) ??
      ((await this.#d.client.tryGet(builtin.secret, ns, name, signal)) as V1Secret | undefined);
    if (cached !== undefined) return cached;
    try {
      const created = await this.#d.client.create(builtin.secret, asUnstructured(build()), signal);
      this.#event(kd, 'Normal', 'CreatedKey', `generated the key Secret ${name}`);
      return created as V1Secret;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      return (await this.#d.client.get(builtin.secret, ns, name, signal)) as V1Secret;
    }
  }

  // ---- objects --------------------------------------------------------------------------------

  async #applyObjects(kd: KeyDirectory, keys: KeysHex, signal: AbortSignal): Promise<void> {
    const client = this.#d.client;
    const ns = directoryNamespace(kd);
    const lease = publisherLease(kd);
    if ((await client.tryGet(builtin.lease, ns, lease.metadata?.name as string, signal)) === undefined) {
      try {
        await client.create(builtin.lease, asUnstructured(lease), signal);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    const options = this.#d.options ?? DEFAULT_SPEC_OPTIONS;
    const objects: unknown[] = [
      ...directoryServiceAccounts(kd),
      publisherRole(kd),
      publisherRoleBinding(kd),
      ...directoryServices(kd),
      ...directoryClaims(kd),
    ];
    // Pods need their keys: without the Secrets (first pass failed half-way) they would not start.
    if (keys.vrf !== undefined && keys.signing !== undefined) {
      objects.push(publisherDeployment(kd), readerDeployment(kd));
      for (let i = 0; i < kd.spec.witnesses; i++) objects.push(witnessStatefulSet(kd, i, options));
    }
    for (const obj of objects) {
      await client.apply(typeOf((obj as { kind?: string }).kind), asUnstructured(obj), { signal });
    }
    for (const sts of this.#d.caches.statefulSets(kd)) {
      const ordinal = Number(sts.metadata?.labels?.[WITNESS_LABEL]);
      if (Number.isInteger(ordinal) && ordinal >= kd.spec.witnesses) {
        const stsName = sts.metadata?.name as string;
        try {
          await client.delete(directoryKinds.statefulSet, ns, stsName, { propagationPolicy: 'Background' });
          this.#event(
            kd,
            'Normal',
            'RemovedWitness',
            `removed witness ${stsName} (spec.witnesses is ${kd.spec.witnesses})`,
          );
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
  }

  // ---- observation ------------------------------------------------------------------------------

  async #observe(kd: KeyDirectory, keys: KeysHex): Promise<DirectoryObservation> {
    const observed = await observeDirectory({
      kd,
      pods: this.#d.caches.pods(kd),
      witnessKeys: keys.witnesses,
      get: this.#d.get,
    });
    const key = `${directoryNamespace(kd)}/${directoryName(kd)}`;
    const nowMs = this.#now().getTime();
    const epoch = observed.head?.epoch;
    const seen = this.#epochSeen.get(key);
    if (epoch !== undefined && (seen === undefined || seen.epoch !== epoch))
      this.#epochSeen.set(key, { epoch, atMs: nowMs });
    const since = this.#epochSeen.get(key)?.atMs;
    return { ...observed, ...(since === undefined ? {} : { epochChangedAtMs: since }) };
  }

  /** Events for changes a person wants to see: a new writer, a witness that halted. */
  #announce(kd: KeyDirectory, o: DirectoryObservation): void {
    const before = kd.status;
    if (o.writer !== undefined && before?.publisher !== undefined && before.publisher !== o.writer) {
      this.#event(
        kd,
        'Normal',
        'WriterChanged',
        `${o.writer} took over as the writer from ${before.publisher}`,
      );
    }
    for (const w of o.witnesses) {
      const was = before?.witnesses?.find((x) => x.name === w.name)?.halted;
      if (w.halted !== undefined && was === undefined) {
        this.#event(kd, 'Warning', 'WitnessHalted', `witness ${w.name} refused to go on: ${w.halted}`);
      }
    }
  }

  #event(kd: KeyDirectory, type: EventType, reason: string, note: string): void {
    this.#d.events.event(asUnstructured(kd), type, reason, note);
    this.#d.log.info(note, { keydirectory: `${kd.metadata.namespace}/${kd.metadata.name}`, reason });
  }

  // ---- metrics ----------------------------------------------------------------------------------

  #recordMetrics(kd: KeyDirectory, status: NonNullable<KeyDirectory['status']>): void {
    const m = this.#d.metrics;
    if (m === undefined) return;
    const labels = { namespace: directoryNamespace(kd), keydirectory: directoryName(kd) };
    m.directoryEpoch.set(labels, status.currentEpoch ?? 0);
    m.directoryWitnessedEpoch.set(labels, status.witnessedEpoch ?? 0);
    m.directoryPendingChanges.set(labels, status.pendingChanges ?? 0);
    m.directoryReadersReady.set(labels, status.readyReaders ?? 0);
    m.directoryAvailable.set(
      labels,
      status.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ? 1 : 0,
    );
  }

  #forgetMetrics(namespace: string, keydirectory: string): void {
    const m = this.#d.metrics;
    if (m === undefined) return;
    for (const g of [
      m.directoryEpoch,
      m.directoryWitnessedEpoch,
      m.directoryPendingChanges,
      m.directoryReadersReady,
      m.directoryAvailable,
    ]) {
      g.remove({ namespace, keydirectory });
    }
  }
}
