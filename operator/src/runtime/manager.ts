// The controller manager: shared informers that run on every replica (so a standby has a warm
// cache and takes over quickly), leader election, and the registered controllers, which run
// only while this replica leads. Losing the Lease stops the controllers (draining the
// reconciles in flight) and the replica campaigns again as a standby; a shutdown stops the
// controllers first and then releases the Lease.
import { type Logger, silentLogger } from '../log.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../metrics.ts';
import { sleep } from './backoff.ts';
import type { IndexFunc } from './cache.ts';
import type { KubeClient } from './client.ts';
import type { Controller } from './controller.ts';
import { EventRecorder } from './events.ts';
import { Informer } from './informer.ts';
import { LeaderElector, leaseDefaults } from './leaderelection.ts';
import { type KubeObject, type ResourceType, resourceName } from './resource.ts';

export interface InformerRequest<T extends KubeObject> {
  labelSelector?: string;
  indexers?: Record<string, IndexFunc<T>>;
}

interface FactoryOptions {
  namespaces?: string[];
  resyncPeriodMs?: number;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

/** One informer per (resource, namespaces, selector), shared by every controller that asks. */
export class InformerFactory {
  readonly #client: KubeClient;
  readonly #opts: FactoryOptions;
  // biome-ignore lint/suspicious/noExplicitAny: informers of every object type live here
  readonly #informers = new Map<string, Informer<any>>();
  #started = false;

  constructor(client: KubeClient, opts: FactoryOptions = {}) {
    this.#client = client;
    this.#opts = opts;
  }

  /** The shared informer for `resource` in the manager's namespaces (all namespaces if none). */
  get<T extends KubeObject>(resource: ResourceType, req: InformerRequest<T> = {}): Informer<T> {
    const namespaces = resource.namespaced ? (this.#opts.namespaces ?? []) : [];
    const key = JSON.stringify([
      resourceName(resource),
      resource.version,
      namespaces,
      req.labelSelector ?? '',
    ]);
    let informer = this.#informers.get(key) as Informer<T> | undefined;
    if (!informer) {
      informer = new Informer<T>(this.#client, {
        resource,
        namespaces,
        labelSelector: req.labelSelector,
        resyncPeriodMs: this.#opts.resyncPeriodMs,
        logger: this.#opts.logger,
        metrics: this.#opts.metrics,
      });
      this.#informers.set(key, informer);
      if (this.#started) informer.start();
    }
    for (const [name, fn] of Object.entries(req.indexers ?? {})) informer.store.addIndexer(name, fn);
    return informer;
  }

  start(): void {
    this.#started = true;
    for (const i of this.#informers.values()) i.start();
  }

  hasSynced(): boolean {
    return [...this.#informers.values()].every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
  }
}

export interface ManagerContext {
  client: KubeClient;
  informers: InformerFactory;
  events: EventRecorder;
  /** The namespaces the operator watches; empty means all namespaces. */
  namespaces: string[];
  /** Images the controllers deploy (from flags), e.g. vaultNode, directoryNode. */
  images: Readonly<Record<string, string>>;
  logger: Logger;
  metrics: OperatorMetrics;
}

/** How a controller joins the manager: `create` runs once, at manager start, on every replica. */
export interface ControllerRegistration {
  name: string;
  create(ctx: ManagerContext): Controller;
}

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  client: KubeClient;
  identity: string;
  /** Namespaces to watch; empty or absent: all namespaces. */
  namespaces?: string[];
  images?: Record<string, string>;
  /** false runs the controllers at once (a single replica, or tests). */
  leaderElection: LeaderElectionConfig | false;
  controllers: ControllerRegistration[];
  resyncPeriodMs?: number;
  reportingController?: string;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

export type Role = 'starting' | 'standby' | 'leader' | 'stopping';

export interface Readiness {
  ready: boolean;
  role: Role;
  informersSynced: boolean;
  leader: string;
  controllers: Record<string, boolean>;
}

export class Manager {
  readonly context: ManagerContext;
  readonly #opts: ManagerOptions;
  readonly #log: Logger;
  readonly #controllers: Controller[];
  #elector?: LeaderElector;
  #role: Role = 'starting';
  #starting?: Promise<void>;

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
    const logger = opts.logger ?? silentLogger;
    const namespaces = [...new Set((opts.namespaces ?? []).filter((n) => n !== ''))];
    const metrics = opts.metrics ?? createOperatorMetrics();
    this.#log = logger.child({ component: 'manager' });
    this.context = {
      client: opts.client,
      namespaces,
      images: { ...opts.images },
      logger,
      metrics,
      informers: new InformerFactory(opts.client, {
        namespaces,
        resyncPeriodMs: opts.resyncPeriodMs ?? 10 * 60_000,
        logger,
        metrics,
      }),
      events: new EventRecorder({
        client: opts.client,
        controller: opts.reportingController ?? 'keyfleet.dev/operator',
        instance: opts.identity,
        logger,
        metrics,
      }),
    };
    const names = new Set<string>();
    this.#controllers = opts.controllers.map((r) => {
      if (names.has(r.name)) throw new Error(`two controllers are registered as "${r.name}"`);
      names.add(r.name);
      return r.create(this.context);
    });
  }

  readiness(): Readiness {
    const informersSynced = this.context.informers.hasSynced();
    const controllers = Object.fromEntries(this.#controllers.map((c) => [c.name, c.running]));
    const allRunning = Object.values(controllers).every(Boolean);
    const ready = informersSynced && (this.#role === 'standby' || (this.#role === 'leader' && allRunning));
    return {
      ready,
      role: this.#role,
      informersSynced,
      leader: this.#opts.leaderElection ? (this.#elector?.getLeader() ?? '') : this.#opts.identity,
      controllers,
    };
  }

  /** Runs until `signal` aborts, then shuts down in order; resolves when everything stopped. */
  async run(signal: AbortSignal): Promise<void> {
    this.context.informers.start();
    try {
      const le = this.#opts.leaderElection;
      if (!le) {
        this.#role = 'leader';
        this.#starting = this.#startControllers(signal);
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } else {
        this.#elector = new LeaderElector({
          client: this.#opts.client,
          identity: this.#opts.identity,
          ...le,
          logger: this.context.logger,
          metrics: this.context.metrics,
          onStartedLeading: (term) => {
            this.#role = 'leader';
            this.#starting = this.#startControllers(term);
          },
          onStoppedLeading: () => this.#stopControllers(signal.aborted ? 'stopping' : 'standby'),
        });
        this.#role = 'standby';
        while (!signal.aborted) {
          await this.#elector.run(signal);
          if (signal.aborted) break;
          this.#log.warn('lost leadership: running as a standby and campaigning again');
          await sleep(le.retryPeriodMs ?? leaseDefaults.retryPeriodMs, signal);
        }
      }
    } finally {
      await this.#stopControllers('stopping');
      await this.context.events.close();
      await this.context.informers.stop();
      this.#log.info('manager stopped');
    }
  }

  async #startControllers(term: AbortSignal): Promise<void> {
    await Promise.all(
      this.#controllers.map(async (c) => {
        if (term.aborted) return;
        try {
          await c.start();
        } catch (err) {
          this.#log.error('controller failed to start', { err, controller: c.name });
        }
      }),
    );
  }

  async #stopControllers(next: Role): Promise<void> {
    this.#role = next;
    const starting = this.#starting;
    this.#starting = undefined;
    // Stop first: a controller still waiting for its informers to sync gives up on stop().
    await Promise.all(this.#controllers.map((c) => c.stop({ drain: true })));
    await starting;
  }
}
