// The KeyDirectory status from one observation (pure; the clock is a parameter):
//   currentEpoch, rootHash, lastPublished, pendingChanges   the writer's newest signed epoch head
//   witnessedEpoch     the newest epoch EVERY witness has verified and countersigned
//   conditions
//     Available   the writer holds the Lease, is Ready and serves epochs
//     Publishing  changes do not wait longer than the epoch interval allows (Idle when none wait)
//     Witnessed   every witness has countersigned the current epoch (one epoch of lag allowed,
//                 the one being published right now); False when one halted, lags or is missing
//     Degraded    something is short of the spec: no standby, fewer Ready readers, a witness
//                 halted or unreachable
//   phase: Paused, Pending (never available yet), Available, Degraded.

import type { KeyDirectory, KeyDirectoryStatus } from '@keyfleet/sdk/api/index';
import { parseDuration } from '../../duration.ts';
import { PUBLISHER_REPLICAS } from '../../specs/directory/workloads.ts';
import { kubeTime, stampConditions, type UnstampedCondition } from '../condition-merge.ts';
import type { DirectoryObservation } from './observed.ts';

/** How long pending changes may wait without a new epoch before Publishing turns False. */
export function stallAfterMs(kd: KeyDirectory): number {
  return Math.max(3 * parseDuration(kd.spec.epochInterval), 30_000);
}

function witnessedEpoch(o: DirectoryObservation): number | undefined {
  if (o.witnesses.length === 0) return undefined;
  let min: number | undefined;
  for (const w of o.witnesses) {
    if (w.lastVerifiedEpoch === undefined) return 0;
    min = min === undefined ? w.lastVerifiedEpoch : Math.min(min, w.lastVerifiedEpoch);
  }
  return min;
}

function conditions(kd: KeyDirectory, o: DirectoryObservation, nowMs: number): UnstampedCondition[] {
  const generation = kd.metadata.generation ?? 0;
  const c = (type: string, ok: boolean | 'Unknown', reason: string, message: string): UnstampedCondition => ({
    type,
    status: ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False',
    reason,
    message,
    observedGeneration: generation,
  });
  const epoch = o.head?.epoch;
  const out: UnstampedCondition[] = [];

  if (o.writer === undefined) {
    out.push(c('Available', false, 'NoWriter', 'no publisher pod holds the writer Lease and is Ready'));
  } else if (o.writerError !== undefined) {
    out.push(
      c('Available', false, 'WriterUnreachable', `the writer ${o.writer} did not answer: ${o.writerError}`),
    );
  } else {
    out.push(
      c('Available', true, 'WriterReady', `${o.writer} is the writer; epoch ${epoch ?? 0} is the newest`),
    );
  }

  const pending = o.pendingChanges;
  if (pending === undefined) {
    out.push(c('Publishing', 'Unknown', 'WriterUnknown', 'the queue depth is not known without a writer'));
  } else if (pending === 0) {
    out.push(c('Publishing', true, 'Idle', 'no changes wait for an epoch'));
  } else if (o.epochChangedAtMs !== undefined && nowMs - o.epochChangedAtMs > stallAfterMs(kd)) {
    const seconds = Math.round((nowMs - o.epochChangedAtMs) / 1000);
    out.push(
      c('Publishing', false, 'Stalled', `${pending} changes wait and no epoch was published for ${seconds}s`),
    );
  } else {
    out.push(c('Publishing', true, 'Publishing', `${pending} changes wait for the next epoch`));
  }

  const halted = o.witnesses.filter((w) => w.halted !== undefined);
  const unreachable = o.witnesses.filter((w) => w.unreachable !== undefined);
  const lagging = o.witnesses.filter(
    (w) => epoch !== undefined && w.halted === undefined && (w.lastVerifiedEpoch ?? 0) < epoch - 1,
  );
  const names = (ws: readonly { name: string }[]) => ws.map((w) => w.name).join(', ');
  if (o.witnesses.length === 0) {
    out.push(
      c('Witnessed', false, 'NoWitnesses', 'spec.witnesses is 0 and no external witness is configured'),
    );
  } else if (halted.length > 0) {
    const first = halted[0] as { name: string; halted?: string };
    out.push(c('Witnessed', false, 'WitnessHalted', `${names(halted)} refused to go on: ${first.halted}`));
  } else if (unreachable.length > 0) {
    out.push(c('Witnessed', false, 'WitnessUnreachable', `${names(unreachable)} could not be asked`));
  } else if (lagging.length > 0) {
    out.push(c('Witnessed', false, 'Lagging', `${names(lagging)} lag behind epoch ${epoch}`));
  } else {
    out.push(c('Witnessed', true, 'UpToDate', `every witness countersigned epoch ${witnessedEpoch(o) ?? 0}`));
  }

  const problems: string[] = [];
  const standbys = o.publishers.filter((p) => !p.terminating).length;
  if (standbys < PUBLISHER_REPLICAS)
    problems.push(`${standbys} of ${PUBLISHER_REPLICAS} publisher pods (no standby)`);
  const readyReaders = o.readers.filter((r) => r.ready).length;
  if (readyReaders < kd.spec.readers) problems.push(`${readyReaders} of ${kd.spec.readers} readers Ready`);
  if (halted.length > 0) problems.push(`witness halted: ${names(halted)}`);
  if (unreachable.length > 0) problems.push(`witness unreachable: ${names(unreachable)}`);
  out.push(
    problems.length === 0
      ? c('Degraded', false, 'AsSpecified', 'every part of the directory runs as specified')
      : c('Degraded', true, 'ShortOfSpec', problems.join('; ')),
  );
  return out;
}

export function desiredDirectoryStatus(
  kd: KeyDirectory,
  o: DirectoryObservation,
  keys: { vrf?: string; signing?: string },
  now: () => Date,
): KeyDirectoryStatus {
  const nowMs = now().getTime();
  const conds = stampConditions(kd.status?.conditions, conditions(kd, o, nowMs), now);
  const is = (type: string) => conds.find((x) => x.type === type)?.status === 'True';
  const everAvailable = kd.status?.phase === 'Available' || kd.status?.phase === 'Degraded';
  const phase: KeyDirectoryStatus['phase'] = kd.spec.paused
    ? 'Paused'
    : is('Available')
      ? is('Degraded')
        ? 'Degraded'
        : 'Available'
      : everAvailable
        ? 'Degraded'
        : 'Pending';
  const head = o.head;
  // An answerless pass keeps the last known epoch rather than forgetting it.
  const prev = kd.status ?? {};
  const witnessed = witnessedEpoch(o);
  const status: KeyDirectoryStatus = {
    observedGeneration: kd.metadata.generation ?? 0,
    phase,
    readyReaders: o.readers.filter((r) => r.ready).length,
    witnesses: o.witnesses.map((w) => ({
      name: w.name,
      ...(w.publicKey === undefined ? {} : { publicKey: w.publicKey }),
      ...(w.lastVerifiedEpoch === undefined ? {} : { lastCountersignedEpoch: w.lastVerifiedEpoch }),
      ...(w.halted === undefined ? {} : { halted: w.halted }),
    })),
    conditions: conds,
  };
  const currentEpoch = head?.epoch ?? prev.currentEpoch;
  if (currentEpoch !== undefined) status.currentEpoch = currentEpoch;
  const rootHash = head?.rootHash ?? prev.rootHash;
  if (rootHash !== undefined) status.rootHash = rootHash;
  const lastPublished = head === undefined ? prev.lastPublished : kubeTime(new Date(head.timestamp));
  if (lastPublished !== undefined) status.lastPublished = lastPublished;
  const pending = o.pendingChanges ?? prev.pendingChanges;
  if (pending !== undefined) status.pendingChanges = pending;
  if (witnessed !== undefined) status.witnessedEpoch = witnessed;
  if (o.writer !== undefined) status.publisher = o.writer;
  if (keys.vrf !== undefined) status.vrfPublicKey = keys.vrf;
  if (keys.signing !== undefined) status.signingPublicKey = keys.signing;
  return status;
}
