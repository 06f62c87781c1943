// Builds one epoch from pending changes (akd's Directory::publish): at most one change per
// username per epoch (later ones wait for the next epoch), a change equal to the current value
// is dropped, otherwise the previous version's stale label and the new version's fresh label
// are inserted. Returns what the storage must commit atomically; writes nothing itself.

import { encodeSingleAppendOnlyProof } from '@keyfleet/sdk/akd/codec';
import type { AzksElement } from '@keyfleet/sdk/akd/types';
import { EMPTY_TREE_ROOT_HASH, freshAzksValue, STALE_AZKS_VALUE } from '@keyfleet/sdk/akd/whatsapp-v1';
import { signEpochHead } from '@keyfleet/sdk/directory/epoch-head';
import { equalBytes } from '@noble/curves/utils.js';
import type { SigningKeys, VrfKeys } from '../keys.ts';
import type { DirectoryStorage, EpochCommit, QueuedChange, ValueState } from '../storage/types.ts';
import type { TreeHasher } from '../tree/hasher.ts';
import { insertEpoch } from '../tree/insert.ts';
import type { LabelDeriver, LabelRequest } from './labels.ts';

export type DirectoryContext = {
  readonly namespace: string;
  readonly hasher: TreeHasher;
  readonly vrf: VrfKeys;
  readonly signing: SigningKeys;
  readonly labels: LabelDeriver;
  readonly now: () => number;
};

export type BuiltEpoch = {
  /** undefined when every change was a no-op */
  readonly commit: EpochCommit | undefined;
  /** queue entries consumed without changing anything */
  readonly noOps: readonly number[];
};

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

type PlannedUpdate = { change: QueuedChange; version: number; stale: boolean };

/** At most one change per username (the first in queue order); later ones wait an epoch. */
export function firstChangePerUser(pending: readonly QueuedChange[]): QueuedChange[] {
  const chosen = new Map<string, QueuedChange>();
  for (const change of pending)
    if (!chosen.has(hex(change.username))) chosen.set(hex(change.username), change);
  return [...chosen.values()];
}

/**
 * What an epoch of `changes` does given the current value states: the no-ops, the updates
 * with their new versions, and the VRF labels they need (the previous version's stale label,
 * then the new version's fresh label, per update).
 */
export function planEpoch(
  changes: readonly QueuedChange[],
  states: ReadonlyMap<string, ValueState>,
): { noOps: number[]; updates: PlannedUpdate[]; requests: LabelRequest[] } {
  const noOps: number[] = [];
  const updates: PlannedUpdate[] = [];
  const requests: LabelRequest[] = [];
  for (const change of changes) {
    const current = states.get(hex(change.username));
    if (current !== undefined && equalBytes(current.value, change.value)) {
      noOps.push(change.seq);
      continue;
    }
    const version = (current?.version ?? 0) + 1;
    if (current !== undefined) {
      requests.push({ username: change.username, freshness: 'stale', version: BigInt(current.version) });
    }
    requests.push({ username: change.username, freshness: 'fresh', version: BigInt(version) });
    updates.push({ change, version, stale: current !== undefined });
  }
  return { noOps, updates, requests };
}

export async function buildEpoch(
  storage: DirectoryStorage,
  ctx: DirectoryContext,
  pending: readonly QueuedChange[],
): Promise<BuiltEpoch> {
  const changes = firstChangePerUser(pending);
  const { latest, states } = await storage.read(async (snap) => ({
    latest: await snap.latestEpoch(),
    states: await snap.latestValueStates(changes.map((c) => c.username)),
  }));
  const epoch = (latest?.epoch ?? 0) + 1;
  const previousRootHash = latest?.rootHash ?? EMPTY_TREE_ROOT_HASH;

  const { noOps, updates, requests } = planEpoch(changes, states);
  if (updates.length === 0) return { commit: undefined, noOps };

  const labels = await ctx.labels.derive(requests);
  const elements: AzksElement[] = [];
  const valueStates: ValueState[] = [];
  let i = 0;
  for (const u of updates) {
    if (u.stale) elements.push({ label: labels[i++]!, value: STALE_AZKS_VALUE });
    const label = labels[i++]!;
    const value = freshAzksValue(ctx.vrf.commitmentKey, label, BigInt(u.version), u.change.value);
    elements.push({ label, value });
    valueStates.push({
      username: u.change.username,
      value: u.change.value,
      version: u.version,
      epoch,
      label,
    });
  }

  const inserted = await storage.read((snap) => insertEpoch(snap, ctx.hasher, elements, epoch));
  const timestamp = ctx.now();
  const { head, signature } = signEpochHead(
    { namespace: ctx.namespace, epoch, rootHash: inserted.rootHash, previousRootHash, timestamp },
    ctx.signing.secret,
  );
  return {
    commit: {
      record: {
        epoch,
        rootHash: inserted.rootHash,
        previousRootHash,
        timestamp,
        head,
        signature,
        auditBlob: encodeSingleAppendOnlyProof(inserted.appendOnly),
        updates: updates.length,
      },
      nodes: inserted.changed,
      valueStates,
      drained: [...updates.map((u) => u.change.seq), ...noOps],
    },
    noOps,
  };
}
