// Prometheus metrics of one Raft member, registered on the Registry the caller passes in.
// Names follow the Prometheus conventions: `_total` counters, `_seconds` histograms, base units,
// bounded label values (drop reasons are a closed list).

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DROP_REASONS, type DropReason } from '../transport/http-transport.ts';

const PREFIX = 'keyfleet_vault_raft_';
// Disk and loopback latencies: sub-millisecond to seconds.
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export class RaftMetrics {
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  readonly proposalsCommitted: Counter;
  readonly proposalsFailed: Counter<'reason'>;
  readonly appendDuration: Histogram;
  readonly fsyncDuration: Histogram;
  readonly commitDuration: Histogram;
  readonly messagesDropped: Counter<'reason'>;
  readonly tornRecords: Counter;
  readonly snapshotsInstalled: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.term = new Gauge({ name: `${PREFIX}term`, help: 'Current Raft term of this member.', registers });
    this.commitIndex = new Gauge({
      name: `${PREFIX}commit_index`,
      help: 'Highest log index known committed.',
      registers,
    });
    this.appliedIndex = new Gauge({
      name: `${PREFIX}applied_index`,
      help: 'Highest log index applied to the state machine.',
      registers,
    });
    this.isLeader = new Gauge({
      name: `${PREFIX}is_leader`,
      help: '1 while this member leads, else 0.',
      registers,
    });
    this.leaderChanges = new Counter({
      name: `${PREFIX}leader_changes_total`,
      help: 'Times the leader this member knows of changed.',
      registers,
    });
    this.proposalsCommitted = new Counter({
      name: `${PREFIX}proposals_committed_total`,
      help: 'Proposals made on this member that committed and were applied.',
      registers,
    });
    this.proposalsFailed = new Counter({
      name: `${PREFIX}proposals_failed_total`,
      help: 'Proposals made on this member that failed (not leader, dropped, overwritten, timed out).',
      labelNames: ['reason'],
      registers,
    });
    this.appendDuration = new Histogram({
      name: `${PREFIX}append_duration_seconds`,
      help: 'Durable log append (write + fdatasync) of one Ready.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.fsyncDuration = new Histogram({
      name: `${PREFIX}fsync_duration_seconds`,
      help: 'One fsync/fdatasync of a log segment, hard state, snapshot or directory.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commitDuration = new Histogram({
      name: `${PREFIX}proposal_commit_duration_seconds`,
      help: 'From proposal on this member to its apply result.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.messagesDropped = new Counter({
      name: `${PREFIX}messages_dropped_total`,
      help: 'Peer messages dropped, by reason (authentication, size, partition, queue, send failure).',
      labelNames: ['reason'],
      registers,
    });
    for (const r of DROP_REASONS) this.messagesDropped.inc({ reason: r }, 0);
    this.snapshotsInstalled = new Counter({
      name: `${PREFIX}snapshots_installed_total`,
      help: 'Snapshots received from the leader and installed (this member had fallen behind the compacted log).',
      registers,
    });
    this.tornRecords = new Counter({
      name: `${PREFIX}torn_writes_recovered_total`,
      help: 'Torn writes cut off the end of the log at startup (never acknowledged data).',
      registers,
    });
  }

  dropped(reason: DropReason, count: number): void {
    this.messagesDropped.inc({ reason }, count);
  }
}
