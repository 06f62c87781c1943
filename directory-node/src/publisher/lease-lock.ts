// The writer lock in Kubernetes: a coordination.k8s.io/v1 Lease, with client-go's rules.
//  - The operator creates the Lease; the publisher's ServiceAccount may only get and update that
//    one Lease (least privilege: no create, no list, no other names).
//  - A candidate takes the Lease when it has no holder, or when the record has not changed for
//    leaseDuration as measured on OUR monotonic clock since we first saw it (so clock skew between
//    nodes does not matter). Every write carries the resourceVersion we read: two standbys racing
//    for an expired Lease cannot both win (one gets 409 Conflict).
//  - The holder renews every retryPeriod. held() turns false once renewDeadline has passed since
//    the last successful renewal (renewDeadline < leaseDuration), so the old writer stops before a
//    standby may start; the storage's epoch commit (next epoch must extend the stored root) fences
//    a commit that was already under way.
//  - Losing the Lease is final for this process: onLost is called once and the caller exits, as
//    client-go's leader election does, and the pod restarts as a standby.
//  - release() (clean shutdown) clears the holder so the standby takes over at its next try.

export type LeaseRecord = {
  readonly resourceVersion: string;
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
};

export type LeaseWrite = Omit<LeaseRecord, 'resourceVersion'>;

/** The two calls the lock makes on the API server (kube-lease-store.ts); `conflict` on a stale resourceVersion. */
export interface LeaseStore {
  get(): Promise<LeaseRecord>;
  update(write: LeaseWrite, resourceVersion: string): Promise<LeaseRecord | 'conflict'>;
}

export type LeaseTimings = {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
};

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export type LeaseLockOptions = {
  readonly store: LeaseStore;
  /** Unique per process: the pod name plus a random suffix. */
  readonly identity: string;
  readonly timings?: LeaseTimings;
  /** Monotonic milliseconds (performance.now) for every timeout decision. */
  readonly monotonicMs?: () => number;
  /** Wall clock, only for the acquireTime/renewTime a person reads on the Lease. */
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onLost?: (reason: string) => void;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
};

/** RFC 3339 with microseconds, the MicroTime format of Lease times. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseWriterLock {
  readonly #o: Required<Omit<LeaseLockOptions, 'onLost' | 'log'>> & Pick<LeaseLockOptions, 'onLost' | 'log'>;
  #lastRenewMs: number | undefined;
  #record: LeaseRecord | undefined;
  #renewing: Promise<void> | undefined;
  #stopped = false;
  #lost = false;

  constructor(o: LeaseLockOptions) {
    const timings = o.timings ?? DEFAULT_LEASE_TIMINGS;
    if (
      !(timings.retryPeriodMs < timings.renewDeadlineMs && timings.renewDeadlineMs < timings.leaseDurationMs)
    )
      throw new Error('lease timings must satisfy retryPeriod < renewDeadline < leaseDuration');
    this.#o = {
      ...o,
      timings,
      monotonicMs: o.monotonicMs ?? (() => performance.now()),
      now: o.now ?? (() => new Date()),
      sleep: o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    };
  }

  /** Resolves once this process holds the Lease (waits as a standby until then). */
  async acquire(): Promise<void> {
    let seen: { record: LeaseRecord; sinceMs: number } | undefined;
    for (;;) {
      if (this.#stopped) throw new Error('writer lock stopped before it was acquired');
      const record = await this.#tryGet();
      if (record !== undefined) {
        // The record's age is measured from when WE first saw this exact version of it.
        if (seen === undefined || seen.record.resourceVersion !== record.resourceVersion) {
          seen = { record, sinceMs: this.#o.monotonicMs() };
        }
        const holder = record.holderIdentity ?? '';
        const expired = this.#o.monotonicMs() - seen.sinceMs >= this.#leaseDurationOf(record);
        if (holder === '' || holder === this.#o.identity || expired) {
          const took = await this.#write(record, true);
          if (took) {
            this.#o.log?.('writer.lease.acquired', {
              identity: this.#o.identity,
              previousHolder: holder === '' ? null : holder,
              transitions: took.leaseTransitions ?? 0,
            });
            this.#renewing = this.#renewLoop();
            return;
          }
        }
      }
      await this.#o.sleep(this.#o.timings.retryPeriodMs);
    }
  }

  held(): boolean {
    if (this.#lost || this.#stopped || this.#lastRenewMs === undefined) return false;
    return this.#o.monotonicMs() - this.#lastRenewMs < this.#o.timings.renewDeadlineMs;
  }

  async release(): Promise<void> {
    const wasHeld = this.held();
    this.#stopped = true;
    await this.#renewing;
    if (!wasHeld || this.#record === undefined) return;
    const record = this.#record;
    this.#lastRenewMs = undefined;
    // Hand over at once: no holder and a one-second lease for anyone still counting.
    const released = await this.#o.store
      .update(
        { ...this.#fields(record, false), holderIdentity: '', leaseDurationSeconds: 1 },
        record.resourceVersion,
      )
      .catch(() => 'conflict' as const);
    this.#o.log?.('writer.lease.released', { identity: this.#o.identity, ok: released !== 'conflict' });
  }

  #leaseDurationOf(record: LeaseRecord): number {
    const seconds = record.leaseDurationSeconds;
    return seconds !== undefined && seconds > 0 ? seconds * 1000 : this.#o.timings.leaseDurationMs;
  }

  async #tryGet(): Promise<LeaseRecord | undefined> {
    try {
      return await this.#o.store.get();
    } catch (e) {
      this.#o.log?.('writer.lease.error', { op: 'get', error: (e as Error).message });
      return undefined;
    }
  }

  #fields(record: LeaseRecord, acquiring: boolean): LeaseWrite {
    const now = microTime(this.#o.now());
    const taking = acquiring && record.holderIdentity !== this.#o.identity;
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.timings.leaseDurationMs / 1000),
      acquireTime: taking || record.acquireTime === undefined ? now : record.acquireTime,
      renewTime: now,
      leaseTransitions: (record.leaseTransitions ?? 0) + (taking ? 1 : 0),
    };
  }

  /** One compare-and-swap write; the new record on success. */
  async #write(record: LeaseRecord, acquiring: boolean): Promise<LeaseRecord | undefined> {
    const startedMs = this.#o.monotonicMs();
    try {
      const written = await this.#o.store.update(this.#fields(record, acquiring), record.resourceVersion);
      if (written === 'conflict') return undefined;
      // Count the lease from when the write was SENT: the server may have stored it any time after.
      this.#lastRenewMs = startedMs;
      this.#record = written;
      return written;
    } catch (e) {
      this.#o.log?.('writer.lease.error', { op: 'update', error: (e as Error).message });
      return undefined;
    }
  }

  async #renewLoop(): Promise<void> {
    while (!this.#stopped) {
      await this.#o.sleep(this.#o.timings.retryPeriodMs);
      if (this.#stopped) return;
      const record = this.#record;
      const renewed = record === undefined ? undefined : await this.#write(record, false);
      if (renewed === undefined) {
        // A conflict means someone else wrote the Lease: re-read it to see whether we still hold it.
        const current = await this.#tryGet();
        if (current !== undefined && current.holderIdentity !== this.#o.identity) {
          return this.#lose(`the Lease is now held by ${current.holderIdentity || 'nobody'}`);
        }
        if (current !== undefined) this.#record = current;
      }
      if (!this.held()) return this.#lose('could not renew the Lease before the renew deadline');
    }
  }

  #lose(reason: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#o.log?.('writer.lease.lost', { identity: this.#o.identity, reason });
    this.#o.onLost?.(reason);
  }
}
