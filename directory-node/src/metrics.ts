// Prometheus metrics of a directory node (one registry per process role).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type DirectoryMetrics = {
  readonly registry: Registry;
  readonly epoch: Gauge;
  readonly batchSize: Histogram;
  readonly publishDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly proofsServed: Counter<'kind'>;
  readonly witnessLag: Gauge;
};

export function createMetrics(options: { defaults?: boolean } = {}): DirectoryMetrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    epoch: new Gauge({ name: 'keyfleet_directory_epoch', help: 'Latest published epoch.', registers }),
    batchSize: new Histogram({
      name: 'keyfleet_directory_batch_size',
      help: 'User updates applied per published epoch.',
      buckets: [1, 10, 100, 1000, 10_000, 100_000],
      registers,
    }),
    publishDuration: new Histogram({
      name: 'keyfleet_directory_publish_duration_seconds',
      help: 'Time to build and commit one epoch.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'keyfleet_directory_queue_depth',
      help: 'Changes waiting for an epoch.',
      registers,
    }),
    proofsServed: new Counter({
      name: 'keyfleet_directory_proofs_served_total',
      help: 'Proofs served, by kind (lookup, history, audit, epoch).',
      labelNames: ['kind'],
      registers,
    }),
    witnessLag: new Gauge({
      name: 'keyfleet_directory_witness_lag_epochs',
      help: 'Published epochs the witness has not countersigned yet.',
      registers,
    }),
  };
}
