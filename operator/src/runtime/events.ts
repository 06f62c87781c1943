// Kubernetes Events (events.k8s.io/v1) for the decisions a person wants to see in
// `kubectl describe`. Written with server-side apply like every other write.
//
// Aggregation, so a reconcile loop cannot flood the API server:
//  - the same (object, type, reason, action, note) within `seriesWindowMs` of its last
//    occurrence is one Event with a growing `series.count`, written at most once per
//    `seriesUpdateMs` (a trailing write lands the final count);
//  - new Events per object come from a token bucket (`burst`, one more every `refillMs`),
//    like client-go's spam filter; what it drops is only counted and logged at debug level.
//    Larger than client-go's 25 per 5 minutes: every rollout decision is an Event here, a
//    seven-zone fleet's creation alone makes about thirty, and with client-go's numbers a zone
//    replacement minutes later lost all of its decisions (seen in the cluster scaling test).
import { randomBytes } from 'node:crypto';
import { type Logger, silentLogger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { KubeClient } from './client.ts';
import { microTime } from './leaderelection.ts';
import { builtin, type Unstructured } from './resource.ts';

export type EventType = 'Normal' | 'Warning';

/** New Events one object may get at once, and how often one more is allowed after that. */
export const DEFAULT_EVENT_BURST = 100;
export const DEFAULT_EVENT_REFILL_MS = 60_000;

export interface EventRecorderOptions {
  client: KubeClient;
  /** reportingController, e.g. `keyfleet.dev/operator`. */
  controller: string;
  /** reportingInstance: this process (pod name). */
  instance: string;
  seriesWindowMs?: number;
  seriesUpdateMs?: number;
  burst?: number;
  refillMs?: number;
  /** Bound on aggregation entries kept in memory (oldest forgotten first). */
  maxEntries?: number;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

interface Entry {
  name: string;
  namespace: string;
  body: Unstructured;
  count: number;
  firstAt: number;
  lastObservedAt: number;
  writtenCount: number;
  lastWriteAt: number;
  timer?: NodeJS.Timeout;
  /** A write is under way; another one must wait for it, or counts could land out of order. */
  writing: boolean;
  rewrite: boolean;
}

const maxNoteLength = 1024;

export class EventRecorder {
  readonly #o: Required<Omit<EventRecorderOptions, 'logger' | 'metrics'>> & EventRecorderOptions;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #pending = new Set<Promise<void>>();
  dropped = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = {
      seriesWindowMs: 6 * 60_000,
      seriesUpdateMs: 30_000,
      burst: DEFAULT_EVENT_BURST,
      refillMs: DEFAULT_EVENT_REFILL_MS,
      maxEntries: 4096,
      ...opts,
    };
    this.#log = (opts.logger ?? silentLogger).child({ component: 'events' });
  }

  normal(regarding: Unstructured, reason: string, note: string, action = reason): void {
    this.event(regarding, 'Normal', reason, note, action);
  }

  warning(regarding: Unstructured, reason: string, note: string, action = reason): void {
    this.event(regarding, 'Warning', reason, note, action);
  }

  /** Records an Event about `regarding`; never throws and never blocks the caller. */
  event(regarding: Unstructured, type: EventType, reason: string, note: string, action = reason): void {
    const meta = regarding.metadata ?? {};
    const trimmed = note.length > maxNoteLength ? `${note.slice(0, maxNoteLength - 1)}…` : note;
    const objectId = meta.uid ?? `${regarding.kind}/${meta.namespace ?? ''}/${meta.name ?? ''}`;
    const key = JSON.stringify([objectId, type, reason, action, trimmed]);
    const now = Date.now();
    const entry = this.#entries.get(key);
    if (entry && now - entry.lastObservedAt <= this.#o.seriesWindowMs) {
      entry.count++;
      entry.lastObservedAt = now;
      this.#entries.delete(key); // re-insert: the map's order is least recently used first
      this.#entries.set(key, entry);
      this.#scheduleSeries(entry);
      return;
    }
    if (entry) this.#forget(key, entry);
    if (!this.#take(objectId, now)) {
      this.dropped++;
      this.#log.debug('event dropped by the per-object rate limit', { reason, object: meta.name });
      return;
    }
    const namespace = meta.namespace || 'default';
    // Like client-go: the object's name, then a unique suffix (names are at most 253 characters).
    const name = `${(meta.name ?? 'object').slice(0, 200)}.${now.toString(16)}${randomBytes(4).toString('hex')}`;
    const created: Entry = {
      name,
      namespace,
      count: 1,
      firstAt: now,
      lastObservedAt: now,
      writtenCount: 0,
      lastWriteAt: 0,
      writing: false,
      rewrite: false,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(new Date(now)),
        reportingController: this.#o.controller,
        reportingInstance: this.#o.instance,
        action,
        reason,
        note: trimmed,
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
      },
    };
    this.#entries.set(key, created);
    while (this.#entries.size > this.#o.maxEntries) {
      const [oldKey, old] = this.#entries.entries().next().value as [string, Entry];
      this.#forget(oldKey, old);
    }
    this.#write(created);
  }

  /** Waits for the writes under way (not for trailing series updates still waiting). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Writes every pending series update now and stops the timers (at shutdown). */
  async close(): Promise<void> {
    for (const e of this.#entries.values()) {
      if (e.timer) {
        clearTimeout(e.timer);
        e.timer = undefined;
        this.#write(e);
      }
    }
    await this.flush();
  }

  #forget(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    this.#entries.delete(key);
  }

  #take(objectId: string, now: number): boolean {
    const b = this.#buckets.get(objectId) ?? { tokens: this.#o.burst, at: now };
    b.tokens = Math.min(this.#o.burst, b.tokens + (now - b.at) / this.#o.refillMs);
    b.at = now;
    this.#buckets.delete(objectId);
    this.#buckets.set(objectId, b);
    while (this.#buckets.size > this.#o.maxEntries)
      this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #scheduleSeries(entry: Entry): void {
    if (entry.timer) return;
    const wait = entry.lastWriteAt + this.#o.seriesUpdateMs - Date.now();
    if (wait <= 0) {
      this.#write(entry);
      return;
    }
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.#write(entry);
    }, wait);
    entry.timer.unref();
  }

  #write(entry: Entry): void {
    if (entry.writing) {
      entry.rewrite = true;
      return;
    }
    if (entry.writtenCount === entry.count && entry.lastWriteAt > 0) return;
    const body: Unstructured = { ...entry.body };
    if (entry.count > 1) {
      body['series'] = { count: entry.count, lastObservedTime: microTime(new Date(entry.lastObservedAt)) };
    }
    entry.writtenCount = entry.count;
    entry.lastWriteAt = Date.now();
    entry.writing = true;
    const type = String(entry.body['type']);
    const p = this.#o.client
      .apply(builtin.event, body)
      .then(() => {
        this.#o.metrics?.eventsEmitted.inc({ type });
      })
      .catch((err: unknown) => {
        this.#log.warn('could not write event', { err, reason: entry.body['reason'] });
      })
      .finally(() => {
        entry.writing = false;
        if (entry.rewrite) {
          entry.rewrite = false;
          this.#write(entry);
        }
        this.#pending.delete(p);
      });
    this.#pending.add(p);
  }
}
