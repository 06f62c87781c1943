// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
//  - a candidate takes the Lease when it does not exist (create: AlreadyExists means someone
//    was faster), when it has no holder (released), or when the holder has not renewed it for
//    leaseDuration as measured on OUR clock since we last saw the record change (so clock skew
//    between nodes does not matter);
//  - every write is an update carrying the resourceVersion we read, so two candidates racing
//    for an expired Lease cannot both win: one gets 409 Conflict. (Server-side apply is an
//    upsert and would let both "win"; this is the one place the operator does not use it.)
//  - the leader renews every retryPeriod; if it cannot renew for renewDeadline it stops leading
//    (renewDeadline < leaseDuration, so it stops before anyone else may start);
//  - on a clean stop the leader first stops its controllers (onStoppedLeading is awaited), then
//    releases the Lease (no holder, leaseDuration 1 s) so a standby takes over on its next try
//    instead of waiting out the lease.
import { type Logger, silentLogger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { jittered, sleep } from './backoff.ts';
import type { KubeClient } from './client.ts';
import { isAlreadyExists, isConflict } from './errors.ts';
import { builtin, type KubeObject } from './resource.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per process: pod name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Called when this process becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called (and awaited) when this process stops leading, before the Lease is released. */
  onStoppedLeading(): void | Promise<void>;
  onNewLeader?(identity: string): void;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

export const leaseDefaults = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
} as const;

// Retries wait retryPeriod plus up to this fraction more, so candidates do not collide in step.
const retryJitter = 0.2;

/** Throws unless the leader can renew (with retries) before its Lease could be taken over. */
export function checkLeaseTimings(t: {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}): void {
  if (t.renewDeadlineMs >= t.leaseDurationMs) {
    throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
  }
  if (t.retryPeriodMs * (1 + retryJitter) >= t.renewDeadlineMs) {
    throw new Error('leader election: retryPeriod (with 20% jitter) must be shorter than renewDeadline');
  }
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, 'onNewLeader' | 'logger' | 'metrics'>> &
    LeaderElectionOptions;
  readonly #log: Logger;
  #observed?: LeaseSpec;
  #observedRaw = '';
  #observedAt = 0;
  #lease?: Lease;
  #leading = false;
  #reportedLeader = '';

  constructor(opts: LeaderElectionOptions) {
    this.#o = { ...leaseDefaults, ...opts };
    checkLeaseTimings(this.#o);
    this.#log = (opts.logger ?? silentLogger).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: opts.identity,
    });
  }

  get identity(): string {
    return this.#o.identity;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder as last observed ('' when none). */
  getLeader(): string {
    return this.#observed?.holderIdentity ?? '';
  }

  /**
   * Campaigns until leader, leads until the Lease is lost or `signal` aborts, then returns
   * (after onStoppedLeading). Call again to campaign again.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.#acquire(signal))) return;
    const term = new AbortController();
    this.#setLeading(true);
    this.#log.info('became leader');
    // Not awaited: starting controllers may take longer than a renew period, and renewing
    // must go on meanwhile (client-go runs it in its own goroutine too).
    Promise.resolve()
      .then(() => this.#o.onStartedLeading(term.signal))
      .catch((err: unknown) => {
        this.#log.error('onStartedLeading failed; stepping down', { err });
        term.abort();
      });
    await this.#renewLoop(AbortSignal.any([signal, term.signal]));
    term.abort();
    this.#setLeading(false);
    try {
      await this.#o.onStoppedLeading();
    } catch (err) {
      this.#log.error('onStoppedLeading failed', { err });
    }
    if (signal.aborted) await this.#release();
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    const labels = { lease: this.#o.name };
    this.#o.metrics?.leaderIsLeader.set(labels, leading ? 1 : 0);
    this.#o.metrics?.leaderTransitions.inc(labels);
  }

  async #acquire(signal: AbortSignal): Promise<boolean> {
    this.#log.info('campaigning for leadership');
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew(signal, this.#o.renewDeadlineMs)) return true;
      await sleep(jittered(this.#o.retryPeriodMs, retryJitter), signal);
    }
    return false;
  }

  async #renewLoop(signal: AbortSignal): Promise<void> {
    let lastRenew = Date.now();
    while (!signal.aborted) {
      if (!(await sleep(this.#o.retryPeriodMs, signal))) return;
      let renewed = false;
      while (!signal.aborted) {
        const remaining = lastRenew + this.#o.renewDeadlineMs - Date.now();
        if (remaining <= 0) break;
        renewed = await this.#tryAcquireOrRenew(signal, remaining);
        if (renewed || signal.aborted) break;
        const again = Math.min(this.#o.retryPeriodMs, lastRenew + this.#o.renewDeadlineMs - Date.now());
        if (again > 0 && !(await sleep(again, signal))) return;
      }
      if (signal.aborted) return;
      if (!renewed) {
        this.#log.warn('failed to renew the lease within the renew deadline: stopping leading', {
          renewDeadlineMs: this.#o.renewDeadlineMs,
        });
        return;
      }
      lastRenew = Date.now();
    }
  }

  #observe(spec: LeaseSpec | undefined, now: number): void {
    const raw = JSON.stringify(spec ?? {});
    if (raw !== this.#observedRaw) {
      this.#observedRaw = raw;
      this.#observed = spec ?? {};
      this.#observedAt = now;
    }
    const holder = spec?.holderIdentity ?? '';
    if (holder !== this.#reportedLeader) {
      this.#reportedLeader = holder;
      if (holder) {
        this.#log.info('new leader observed', { leader: holder });
        this.#o.onNewLeader?.(holder);
      }
    }
  }

  async #tryAcquireOrRenew(outer: AbortSignal, timeoutMs: number): Promise<boolean> {
    const { client, namespace, name, identity } = this.#o;
    const signal = AbortSignal.any([outer, AbortSignal.timeout(Math.max(1, timeoutMs))]);
    const now = new Date();
    const durationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    try {
      const current = await client.tryGet<Lease>(builtin.lease, namespace, name, signal);
      if (!current) {
        const spec: LeaseSpec = {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        };
        this.#lease = await client.create<Lease>(
          builtin.lease,
          { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec },
          signal,
        );
        this.#observe(this.#lease.spec, Date.now());
        return true;
      }
      this.#observe(current.spec, now.getTime());
      const held = current.spec ?? {};
      const holder = held.holderIdentity ?? '';
      const leaseMs = (held.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (holder && holder !== identity && this.#observedAt + leaseMs > now.getTime()) return false;
      const ours = holder === identity;
      const spec: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: ours && held.acquireTime ? held.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: ours ? (held.leaseTransitions ?? 0) : (held.leaseTransitions ?? 0) + 1,
      };
      this.#lease = await client.update<Lease>(builtin.lease, { ...current, spec }, signal);
      this.#observe(this.#lease.spec, Date.now());
      return true;
    } catch (err) {
      if (isConflict(err) || isAlreadyExists(err)) {
        this.#log.debug('lost a race for the lease', { err });
      } else if (!outer.aborted) {
        this.#log.warn('lease request failed', { err });
      }
      return false;
    }
  }

  /** Gives the Lease up so a standby can take it at once. Only if we still hold it. */
  async #release(): Promise<void> {
    const { client, namespace, name, identity } = this.#o;
    const signal = AbortSignal.timeout(this.#o.renewDeadlineMs);
    let lease = this.#lease;
    // Two tries: a renewal cut short by the shutdown may have landed after all, leaving our
    // copy one resourceVersion behind; then read the Lease again and release that.
    for (let attempt = 0; attempt < 2 && lease?.spec?.holderIdentity === identity; attempt++) {
      const now = microTime(new Date());
      try {
        this.#lease = await client.update<Lease>(
          builtin.lease,
          {
            ...lease,
            spec: {
              leaseDurationSeconds: 1,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: lease.spec?.leaseTransitions ?? 0,
            },
          },
          signal,
        );
        this.#log.info('released the lease');
        return;
      } catch (err) {
        if (!isConflict(err) || attempt > 0) {
          this.#log.warn('could not release the lease; a standby will take it when it expires', { err });
          return;
        }
        lease = await client.tryGet<Lease>(builtin.lease, namespace, name, signal).catch(() => undefined);
      }
    }
  }
}
