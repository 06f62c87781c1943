// The operator's Prometheus metrics. One registry per process (tests make their own), names
// following Prometheus conventions: `keyfleet_` prefix, `_total` counters, `_seconds`
// histograms in base units, and labels of bounded cardinality (controller, result, resource,
// lease; namespace/vaultfleet/zone for the fleet gauges, bounded by fleets × zones: never a
// pod's name or a queue key). The fleet names and labels are the ones the Helm chart's
// dashboards and alert rules query.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type ReconcileResult = 'success' | 'error' | 'requeue';

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileDuration: Histogram<'controller'>;
  workqueueDepth: Gauge<'controller'>;
  workqueueAdds: Counter<'controller'>;
  workqueueRetries: Counter<'controller'>;
  workqueueQueueDuration: Histogram<'controller'>;
  workqueueWorkDuration: Histogram<'controller'>;
  informerRelists: Counter<'resource'>;
  informerWatchRestarts: Counter<'resource' | 'reason'>;
  leaderIsLeader: Gauge<'lease'>;
  leaderTransitions: Counter<'lease'>;
  eventsEmitted: Counter<'type'>;
  fleetMembers: Gauge<'namespace' | 'vaultfleet'>;
  fleetMembersReady: Gauge<'namespace' | 'vaultfleet'>;
  fleetQuorum: Gauge<'namespace' | 'vaultfleet'>;
  fleetQuorumHealthy: Gauge<'namespace' | 'vaultfleet'>;
  fleetLeaderChanges: Counter<'namespace' | 'vaultfleet'>;
  fleetMemberReady: Gauge<'namespace' | 'vaultfleet' | 'zone'>;
  fleetAttestationExpiry: Gauge<'namespace' | 'vaultfleet'>;
  directoryEpoch: Gauge<'namespace' | 'keydirectory'>;
  directoryWitnessedEpoch: Gauge<'namespace' | 'keydirectory'>;
  directoryPendingChanges: Gauge<'namespace' | 'keydirectory'>;
  directoryReadersReady: Gauge<'namespace' | 'keydirectory'>;
  directoryAvailable: Gauge<'namespace' | 'keydirectory'>;
}

/** Drops a deleted fleet's series (and its members', by zone) so they do not linger. */
export function forgetFleet(
  m: OperatorMetrics,
  namespace: string,
  vaultfleet: string,
  zones: string[],
): void {
  const labels = { namespace, vaultfleet };
  for (const metric of [
    m.fleetMembers,
    m.fleetMembersReady,
    m.fleetQuorum,
    m.fleetQuorumHealthy,
    m.fleetLeaderChanges,
    m.fleetAttestationExpiry,
  ]) {
    metric.remove(labels);
  }
  for (const zone of zones) m.fleetMemberReady.remove({ ...labels, zone });
}

// From 1 ms to ~2 min: reconciles that wait on API calls land in the middle.
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createOperatorMetrics(registry: Registry = new Registry()): OperatorMetrics {
  const registers = [registry];
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'keyfleet_reconcile_total',
      help: 'Reconciles finished, by controller and result (success, error, requeue).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'keyfleet_reconcile_duration_seconds',
      help: 'Time one reconcile took, in seconds.',
      labelNames: ['controller'],
      buckets: durationBuckets,
      registers,
    }),
    workqueueDepth: new Gauge({
      name: 'keyfleet_workqueue_depth',
      help: 'Keys waiting in the work queue (not counting delayed ones).',
      labelNames: ['controller'],
      registers,
    }),
    workqueueAdds: new Counter({
      name: 'keyfleet_workqueue_adds_total',
      help: 'Keys added to the work queue (after de-duplication).',
      labelNames: ['controller'],
      registers,
    }),
    workqueueRetries: new Counter({
      name: 'keyfleet_workqueue_retries_total',
      help: 'Rate-limited re-adds of a key after a failed or unfinished reconcile.',
      labelNames: ['controller'],
      registers,
    }),
    workqueueQueueDuration: new Histogram({
      name: 'keyfleet_workqueue_queue_duration_seconds',
      help: 'Time a key waited in the queue before a worker took it, in seconds.',
      labelNames: ['controller'],
      buckets: durationBuckets,
      registers,
    }),
    workqueueWorkDuration: new Histogram({
      name: 'keyfleet_workqueue_work_duration_seconds',
      help: 'Time between a worker taking a key and marking it done, in seconds.',
      labelNames: ['controller'],
      buckets: durationBuckets,
      registers,
    }),
    informerRelists: new Counter({
      name: 'keyfleet_informer_relists_total',
      help: 'Full lists an informer made (the first one, and after 410 Gone).',
      labelNames: ['resource'],
      registers,
    }),
    informerWatchRestarts: new Counter({
      name: 'keyfleet_informer_watch_restarts_total',
      help: 'Watches an informer restarted, by reason (closed, expired, error).',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    leaderIsLeader: new Gauge({
      name: 'keyfleet_leader_election_is_leader',
      help: '1 while this process holds the leader Lease, else 0.',
      labelNames: ['lease'],
      registers,
    }),
    leaderTransitions: new Counter({
      name: 'keyfleet_leader_election_transitions_total',
      help: 'Times this process started or stopped leading.',
      labelNames: ['lease'],
      registers,
    }),
    eventsEmitted: new Counter({
      name: 'keyfleet_events_emitted_total',
      help: 'Kubernetes Events written (created or their series updated), by type.',
      labelNames: ['type'],
      registers,
    }),
    fleetMembers: new Gauge({
      name: 'keyfleet_vaultfleet_members',
      help: 'Members a VaultFleet should have (one per zone).',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    fleetMembersReady: new Gauge({
      name: 'keyfleet_vaultfleet_members_ready',
      help: 'Members of a VaultFleet that are ready.',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    fleetQuorum: new Gauge({
      name: 'keyfleet_vaultfleet_quorum',
      help: 'Members a VaultFleet needs for a majority.',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    fleetQuorumHealthy: new Gauge({
      name: 'keyfleet_vaultfleet_quorum_healthy',
      help: '1 while a quorum of caught-up members is ready, else 0.',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    fleetLeaderChanges: new Counter({
      name: 'keyfleet_vaultfleet_leader_changes_total',
      help: 'Raft leader changes the operator observed in a VaultFleet.',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    fleetMemberReady: new Gauge({
      name: 'keyfleet_vaultfleet_member_ready',
      help: '1 while the member of a VaultFleet in this zone is ready, else 0.',
      labelNames: ['namespace', 'vaultfleet', 'zone'],
      registers,
    }),
    fleetAttestationExpiry: new Gauge({
      name: 'keyfleet_vaultfleet_attestation_expiry_timestamp_seconds',
      help: 'When the current fleet-deployment attestation expires, as a Unix time in seconds.',
      labelNames: ['namespace', 'vaultfleet'],
      registers,
    }),
    directoryEpoch: new Gauge({
      name: 'keyfleet_keydirectory_epoch',
      help: 'Newest epoch the KeyDirectory writer has published, as the operator last saw it.',
      labelNames: ['namespace', 'keydirectory'],
      registers,
    }),
    directoryWitnessedEpoch: new Gauge({
      name: 'keyfleet_keydirectory_witnessed_epoch',
      help: 'Newest epoch every witness of the KeyDirectory has verified and countersigned.',
      labelNames: ['namespace', 'keydirectory'],
      registers,
    }),
    directoryPendingChanges: new Gauge({
      name: 'keyfleet_keydirectory_pending_changes',
      help: 'Accepted changes waiting for the next epoch of the KeyDirectory.',
      labelNames: ['namespace', 'keydirectory'],
      registers,
    }),
    directoryReadersReady: new Gauge({
      name: 'keyfleet_keydirectory_readers_ready',
      help: 'Ready reader pods of the KeyDirectory.',
      labelNames: ['namespace', 'keydirectory'],
      registers,
    }),
    directoryAvailable: new Gauge({
      name: 'keyfleet_keydirectory_available',
      help: '1 when the KeyDirectory has a Ready writer serving epochs, else 0.',
      labelNames: ['namespace', 'keydirectory'],
      registers,
    }),
  };
}
