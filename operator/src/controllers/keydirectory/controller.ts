// The KeyDirectory controller's wiring: the informers it reads (directories; the directories'
// pods, key Secrets and witness StatefulSets by the operator's labels), the watches that bring a
// directory back to the queue, and the reconciler (reconcile.ts) with real HTTP and a CSPRNG.

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { Controller, type WatchSource, watchPrimary } from '../../runtime/controller.ts';
import type { Informer } from '../../runtime/informer.ts';
import type { ControllerRegistration, ManagerContext } from '../../runtime/manager.ts';
import { builtin, type KubeObject } from '../../runtime/resource.ts';
import { DIRECTORY_APP_NAME } from '../../specs/directory/names.ts';
import { Label, MANAGED_BY } from '../../specs/labels.ts';
import { labelValue } from '../../specs/names.ts';
import { fetchJson, type JsonGetter } from './observe.ts';
import { type DirectoryCaches, DirectoryReconciler, directoryKinds, keyDirectoryType } from './reconcile.ts';

export const CONTROLLER_NAME = 'keydirectory';

const managedSelector = `${Label.managedBy}=${MANAGED_BY},${Label.name}=${DIRECTORY_APP_NAME}`;

/** An object's directory: its controller owner reference, else its instance label. */
function watchDirectoryObjects<T extends KubeObject>(informer: Informer<T>): WatchSource {
  return {
    informer,
    toKeys: (obj) => {
      const ns = obj.metadata?.namespace;
      const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'KeyDirectory');
      const name = ref?.name ?? obj.metadata?.labels?.[Label.instance];
      return name === undefined || ns === undefined ? [] : [`${ns}/${name}`];
    },
  };
}

function ofDirectory<T extends KubeObject>(informer: Informer<T>, kd: KeyDirectory): T[] {
  const instance = labelValue(kd.metadata.name ?? '');
  return informer.store
    .list()
    .filter(
      (o) =>
        o.metadata?.namespace === kd.metadata.namespace && o.metadata?.labels?.[Label.instance] === instance,
    );
}

export interface KeyDirectoryControllerOptions {
  readonly get?: JsonGetter;
  readonly now?: () => Date;
  readonly workers?: number;
}

export function createKeyDirectoryController(
  ctx: ManagerContext,
  o: KeyDirectoryControllerOptions = {},
): Controller {
  const directories = ctx.informers.get<KeyDirectory & KubeObject>(keyDirectoryType);
  const pods = ctx.informers.get<V1Pod & KubeObject>(builtin.pod, { labelSelector: managedSelector });
  const secrets = ctx.informers.get<V1Secret & KubeObject>(builtin.secret, {
    labelSelector: managedSelector,
  });
  const statefulSets = ctx.informers.get<V1StatefulSet & KubeObject>(directoryKinds.statefulSet, {
    labelSelector: managedSelector,
  });
  const caches: DirectoryCaches = {
    directory: (namespace, name) => {
      const kd = directories.store.getByName(namespace, name);
      return kd === undefined ? undefined : structuredClone(kd);
    },
    pods: (kd) => ofDirectory(pods, kd),
    secrets: (kd) => ofDirectory(secrets, kd),
    statefulSets: (kd) => ofDirectory(statefulSets, kd),
  };
  const reconciler = new DirectoryReconciler({
    client: ctx.client,
    caches,
    events: ctx.events,
    get: o.get ?? fetchJson,
    ...(o.now === undefined ? {} : { now: o.now }),
    metrics: ctx.metrics,
    log: ctx.logger.child({ controller: CONTROLLER_NAME }),
  });
  return new Controller({
    name: CONTROLLER_NAME,
    watches: [
      watchPrimary(directories),
      watchDirectoryObjects(pods),
      watchDirectoryObjects(secrets),
      watchDirectoryObjects(statefulSets),
    ],
    reconcile: async ({ namespace, name, signal }) => {
      if (namespace === undefined) return;
      return reconciler.reconcile(namespace, name, signal);
    },
    ...(o.workers === undefined ? {} : { workers: o.workers }),
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
}

export const keyDirectoryController: ControllerRegistration = {
  name: CONTROLLER_NAME,
  create: (ctx) => createKeyDirectoryController(ctx),
};
