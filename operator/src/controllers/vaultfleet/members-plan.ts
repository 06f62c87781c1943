// What executing a rollout step means in Kubernetes objects and vault admin calls: a pure
// translation, so the reconcile only performs the operations in order, and a reader can check
// here that no step ever creates an empty volume for a member the Raft group still counts on.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import { fleetName, fleetNamespace } from '../../specs/labels.ts';
import { memberPod } from '../../specs/member-pod.ts';
import { memberClaim } from '../../specs/member-pvc.ts';
import { memberClaimName, memberName, sealingKeySecretName } from '../../specs/names.ts';
import { DEFAULT_SPEC_OPTIONS, type SpecOptions } from '../../specs/options.ts';
import { type RandomBytes, sealingKeySecret } from '../../specs/secrets.ts';
import { HttpPath } from '../../specs/vault-contract.ts';
import type { RolloutStep } from './rollout.ts';

interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: 'Pod' | 'PersistentVolumeClaim' | 'Secret';
  readonly namespace: string;
  readonly name: string;
}

export type Operation =
  /** Create the object unless one of that name exists; never modify an existing one. */
  | { readonly op: 'create-if-absent'; readonly object: { kind?: string; metadata?: { name?: string } } }
  /** Delete; gracePeriodSeconds 0 only for a pod whose node will not confirm the deletion. */
  | { readonly op: 'delete'; readonly ref: ObjectRef; readonly gracePeriodSeconds?: number }
  /** A signed admin call to the current leader (VAULT_CONTRACT.md, "Operator admin API"). */
  | { readonly op: 'leader-admin'; readonly path: string; readonly body: Record<string, string> };

export interface PlanContext {
  readonly randomBytes: RandomBytes;
  readonly options?: SpecOptions;
}

function ref(fleet: VaultFleet, kind: ObjectRef['kind'], name: string): ObjectRef {
  return { apiVersion: 'v1', kind, namespace: fleetNamespace(fleet), name };
}

function podRef(fleet: VaultFleet, zone: string): ObjectRef {
  return ref(fleet, 'Pod', memberName(fleetName(fleet), zone));
}

function claimRef(fleet: VaultFleet, zone: string): ObjectRef {
  return ref(fleet, 'PersistentVolumeClaim', memberClaimName(fleetName(fleet), zone));
}

function membership(fleet: VaultFleet, kind: 'add-learner' | 'promote' | 'remove', zone: string): Operation {
  return {
    op: 'leader-admin',
    path: HttpPath.adminMembership,
    body: { kind, member: memberName(fleetName(fleet), zone) },
  };
}

export function planStep(fleet: VaultFleet, step: RolloutStep, ctx: PlanContext): Operation[] {
  const options = ctx.options ?? DEFAULT_SPEC_OPTIONS;
  switch (step.kind) {
    case 'CreateMember':
      // A zone that is not (or no longer) in the group: a fresh claim is what it should get. An
      // existing sealing key is kept: it opens nothing on an empty volume, and a new one would not
      // help a volume sealed under the old.
      return [
        { op: 'create-if-absent', object: sealingKeySecret(fleet, step.zone, ctx.randomBytes) },
        { op: 'create-if-absent', object: memberClaim(fleet, step.zone) },
        {
          op: 'create-if-absent',
          object: memberPod(fleet, { zone: step.zone, clusterState: step.clusterState, options }),
        },
      ];
    case 'RecreateMember':
      switch (step.cause) {
        case 'pod-missing':
          // The pod only. Were the claim gone by now, creating one would hand a voter an empty log;
          // the pod then stays Pending and the next observation takes the data-lost path.
          return [
            {
              op: 'create-if-absent',
              object: memberPod(fleet, { zone: step.zone, clusterState: 'existing', options }),
            },
          ];
        case 'pod-failed':
          return [{ op: 'delete', ref: podRef(fleet, step.zone) }];
        case 'node-lost':
          return [{ op: 'delete', ref: podRef(fleet, step.zone), gracePeriodSeconds: 0 }];
        case 'data-lost':
          return [
            { op: 'delete', ref: podRef(fleet, step.zone) },
            { op: 'delete', ref: claimRef(fleet, step.zone) },
          ];
      }
      break;
    case 'UpdateMember':
      // The preStop hook makes the member leave safely; the next step recreates it from the spec.
      return [{ op: 'delete', ref: podRef(fleet, step.zone) }];
    case 'DeleteMember': {
      const ops: Operation[] = [{ op: 'delete', ref: podRef(fleet, step.zone) }];
      if (fleet.spec.storage.retentionPolicy === 'Delete') {
        ops.push(
          { op: 'delete', ref: claimRef(fleet, step.zone) },
          { op: 'delete', ref: ref(fleet, 'Secret', sealingKeySecretName(fleetName(fleet), step.zone)) },
        );
      }
      return ops;
    }
    case 'AddLearner':
      return [membership(fleet, 'add-learner', step.zone)];
    case 'Promote':
      return [membership(fleet, 'promote', step.zone)];
    case 'RemoveMember':
      return [membership(fleet, 'remove', step.zone)];
    case 'TransferLeadership':
      return [
        {
          op: 'leader-admin',
          path: HttpPath.adminTransferLeadership,
          body: { to: memberName(fleetName(fleet), step.to) },
        },
      ];
    case 'Wait':
    case 'None':
      return [];
  }
  return [];
}
