// Escrow metrics. Outcomes are counted where the request is answered (the leader, or the member a
// client reached when it forwards); lockouts and attempt counts are observed on apply, so every
// member counts the same committed history (alert on max over members, not the sum).

import { ESCROW_PATHS } from '@keyfleet/sdk/backup/wire';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { decodeCommand, EscrowStateMachine, type EscrowStateMachineOptions } from '../escrow/index.ts';
import type { Entry, StateMachine } from '../raft/types.ts';

export class EscrowMetrics {
  readonly requests: Counter<'endpoint' | 'code'>;
  readonly recoveries: Counter<'outcome'>;
  readonly duration: Histogram<'endpoint'>;
  readonly lockouts: Counter;
  readonly attempts: Histogram;
  readonly records: Gauge;
  readonly forwardsRefused: Counter<'reason'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'keyfleet_vault_escrow_requests_total',
      help: 'Escrow API requests answered, by endpoint and status code.',
      labelNames: ['endpoint', 'code'],
      registers: [registry],
    });
    this.recoveries = new Counter({
      name: 'keyfleet_vault_recoveries_total',
      help: 'Recovery steps by outcome: recovered, wrong_password, locked, not_found, unavailable.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'keyfleet_vault_escrow_request_duration_seconds',
      help: 'Time to answer an escrow request, consensus included.',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.lockouts = new Counter({
      name: 'keyfleet_vault_lockouts_total',
      help: 'Records that reached their guess limit and locked forever (observed on apply).',
      registers: [registry],
    });
    this.attempts = new Histogram({
      name: 'keyfleet_vault_recovery_attempts',
      help: 'Attempt number a granted recovery attempt brought its record to (observed on apply).',
      buckets: [1, 2, 3, 5, 8, 10, 20, 50, 100, 255],
      registers: [registry],
    });
    this.records = new Gauge({
      name: 'keyfleet_vault_escrow_records',
      help: 'Escrowed records in the replicated state.',
      registers: [registry],
    });
    this.forwardsRefused = new Counter({
      name: 'keyfleet_vault_forwarded_requests_refused_total',
      help: 'Forwarded client requests refused on the peer port: malformed, wrong-recipient, unknown-member, bad-signature, replay.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  /** One answered request; `countOutcome` is false where a forwarded request's outcome is counted by the leader. */
  observe(path: string, status: number, seconds: number, countOutcome = true): void {
    const endpoint = endpointName(path);
    this.requests.inc({ endpoint, code: String(status) });
    this.duration.observe({ endpoint }, seconds);
    const outcome = countOutcome ? recoveryOutcome(path, status) : null;
    if (outcome) this.recoveries.inc({ outcome });
  }
}

function endpointName(path: string): string {
  const known = Object.entries(ESCROW_PATHS).find(([, p]) => p === path);
  return known ? known[0] : 'unknown';
}

/** The recovery outcome a response stands for, or null for other endpoints and statuses. */
export function recoveryOutcome(path: string, status: number): string | null {
  if (path === ESCROW_PATHS.recoverStart) {
    if (status === 423) return 'locked';
    if (status === 404) return 'not_found';
    if (status === 503) return 'unavailable';
    return null;
  }
  if (path === ESCROW_PATHS.recoverFinish) {
    if (status === 200) return 'recovered';
    if (status === 401) return 'wrong_password';
    if (status === 423) return 'locked';
    if (status === 503) return 'unavailable';
  }
  return null;
}

/** The escrow state machine, with lockouts and attempt counts observed as entries apply. */
export class ObservedEscrowStateMachine implements StateMachine {
  readonly inner: EscrowStateMachine;
  readonly #metrics: EscrowMetrics;

  constructor(metrics: EscrowMetrics, options: EscrowStateMachineOptions = {}) {
    this.#metrics = metrics;
    this.inner = new EscrowStateMachine(options);
  }

  apply(entry: Entry): Uint8Array {
    let userId: string | undefined;
    let op: string | undefined;
    if (entry.type === 'normal') {
      try {
        ({ userId, op } = decodeCommand(entry.data));
      } catch {
        // The state machine answers a malformed command itself.
      }
    }
    const wasLocked = userId !== undefined && this.inner.get(userId)?.locked === true;
    const result = this.inner.apply(entry);
    if (userId !== undefined) {
      const record = this.inner.get(userId);
      if (record?.locked && !wasLocked) this.#metrics.lockouts.inc();
      if (op === 'attempt' && record && !record.locked) this.#metrics.attempts.observe(record.attempts);
    }
    this.#metrics.records.set(this.inner.size);
    return result;
  }

  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }

  snapshotInSlices(): Promise<Uint8Array> {
    return this.inner.snapshotInSlices();
  }

  restore(data: Uint8Array): void {
    this.inner.restore(data);
    this.#metrics.records.set(this.inner.size);
  }
}
