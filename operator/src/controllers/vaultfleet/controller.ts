// The VaultFleet controller's wiring: the informers it reads (fleets; the fleets' pods, claims and
// Secrets by the operator's managed-by label; nodes), the watches that bring a fleet back to the
// queue, and the reconciler (reconcile.ts) with the real admin client and a CSPRNG.

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1Node, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import { Controller, type WatchSource, watchPrimary } from '../../runtime/controller.ts';
import type { Informer } from '../../runtime/informer.ts';
import type { ControllerRegistration, ManagerContext } from '../../runtime/manager.ts';
import { builtin, type KubeObject } from '../../runtime/resource.ts';
import { APP_NAME, Label, MANAGED_BY } from '../../specs/labels.ts';
import { labelValue } from '../../specs/names.ts';
import type { SpecOptions } from '../../specs/options.ts';
import { type AdminConnector, connectVaultAdmin } from './member-admin.ts';
import { type FleetCaches, FleetReconciler, ownedKinds, vaultFleetType } from './reconcile.ts';

export const CONTROLLER_NAME = 'vaultfleet';

const managedSelector = `${Label.managedBy}=${MANAGED_BY},${Label.name}=${APP_NAME}`;
/** The KeyDirectory pods (kd-contract) the attestation calls: witnesses, publisher, readers. */
const directoryPodSelector = `${Label.managedBy}=${MANAGED_BY},${Label.name}=directory-node`;

/**
 * Events of a fleet's object bring the fleet back: by its controller owner reference, or (for the
 * claims and key Secrets a Retain policy leaves unowned) by its instance label.
 */
export function watchFleetObjects<T extends KubeObject>(informer: Informer<T>): WatchSource {
  return {
    informer,
    toKeys: (obj) => {
      const ns = obj.metadata?.namespace;
      const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'VaultFleet');
      const name = ref?.name ?? obj.metadata?.labels?.[Label.instance];
      return name === undefined || ns === undefined ? [] : [`${ns}/${name}`];
    },
  };
}

function ofFleet<T extends KubeObject>(informer: Informer<T>, fleet: VaultFleet): T[] {
  const instance = labelValue(fleet.metadata.name ?? '');
  return informer.store
    .list()
    .filter(
      (o) =>
        o.metadata?.namespace === fleet.metadata.namespace &&
        o.metadata?.labels?.[Label.instance] === instance,
    );
}

export interface VaultFleetControllerOptions {
  readonly connect?: AdminConnector;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly now?: () => Date;
  readonly specOptions?: SpecOptions;
  readonly workers?: number;
}

export function createVaultFleetController(
  ctx: ManagerContext,
  o: VaultFleetControllerOptions = {},
): Controller {
  const fleets = ctx.informers.get<VaultFleet & KubeObject>(vaultFleetType);
  const pods = ctx.informers.get<V1Pod & KubeObject>(builtin.pod, { labelSelector: managedSelector });
  const claims = ctx.informers.get<V1PersistentVolumeClaim & KubeObject>(builtin.persistentVolumeClaim, {
    labelSelector: managedSelector,
  });
  const secrets = ctx.informers.get<V1Secret & KubeObject>(builtin.secret, {
    labelSelector: managedSelector,
  });
  const nodes = ctx.informers.get<V1Node & KubeObject>(ownedKinds.node);
  const directoryPods = ctx.informers.get<V1Pod & KubeObject>(builtin.pod, {
    labelSelector: directoryPodSelector,
  });
  const caches: FleetCaches = {
    fleet: (namespace, name) => {
      const f = fleets.store.getByName(namespace, name);
      // The cache's objects are frozen; the reconcile records what it applied on its own copy.
      return f === undefined ? undefined : structuredClone(f);
    },
    pods: (f) => ofFleet(pods, f),
    claims: (f) => ofFleet(claims, f),
    secrets: (f) => ofFleet(secrets, f),
    nodes: () => nodes.store.list(),
    directoryPods: (namespace, name) =>
      directoryPods.store
        .list()
        .filter(
          (p) =>
            p.metadata?.namespace === namespace && p.metadata?.labels?.[Label.instance] === labelValue(name),
        ),
  };
  const reconciler = new FleetReconciler({
    client: ctx.client,
    caches,
    events: ctx.events,
    connect: o.connect ?? connectVaultAdmin,
    randomBytes: o.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n))),
    now: o.now ?? (() => new Date()),
    metrics: ctx.metrics,
    ...(o.specOptions !== undefined ? { options: o.specOptions } : {}),
    log: ctx.logger.child({ controller: CONTROLLER_NAME }),
  });
  return new Controller({
    name: CONTROLLER_NAME,
    watches: [
      watchPrimary(fleets),
      watchFleetObjects(pods),
      watchFleetObjects(claims),
      watchFleetObjects(secrets),
    ],
    reconcile: async ({ namespace, name, signal }) => {
      if (namespace === undefined) return;
      const outcome = await reconciler.reconcile(namespace, name, signal);
      return outcome.requeueAfter === undefined ? undefined : { requeueAfter: outcome.requeueAfter };
    },
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
}

export const vaultFleetController: ControllerRegistration = {
  name: CONTROLLER_NAME,
  create: (ctx) => createVaultFleetController(ctx),
};
