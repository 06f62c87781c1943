// The keyfleet controller manager: `node operator/src/main.ts [flags]`.
// Reads flags (or their environment variables), connects to the API server (kubeconfig or
// in-cluster), serves /healthz /readyz /metrics, campaigns for the leader Lease and runs the
// registered controllers while it leads. SIGTERM/SIGINT: stop the controllers (draining the
// reconciles in flight), release the Lease so a standby takes over at once, then exit 0.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics } from 'prom-client';
import { createLogger, type Level, type Logger, parseLevel } from './log.ts';
import { createOperatorMetrics } from './metrics.ts';
import { KubeClient } from './runtime/client.ts';
import { type ControllerRegistration, Manager } from './runtime/manager.ts';
import { createHealthApp, listen, parseListenAddress } from './runtime/server.ts';
import { KubeConfigTransport } from './runtime/transport.ts';

/**
 * The controllers this operator runs. The VaultFleet and KeyDirectory controllers
 * (operator/src/controllers/) add their registrations here.
 */
export const controllerRegistry: ControllerRegistration[] = [];

export interface OperatorConfig {
  kubeconfig?: string;
  /** '' watches all namespaces. */
  namespace: string;
  leaderElect: boolean;
  leaderElectionId: string;
  leaderElectionNamespace: string;
  metricsAddr: string;
  logLevel: Level;
  identity: string;
  shutdownTimeoutMs: number;
}

export const usage = `Usage: node operator/src/main.ts [flags]

  --kubeconfig PATH                  kubeconfig to use (env KUBECONFIG); in a pod the service account is used
  --namespace NS                     namespace to watch; empty for all namespaces (env WATCH_NAMESPACE)
  --leader-elect / --no-leader-elect campaign for the leader Lease before running controllers (default on)
  --leader-election-id NAME          name of the Lease (default keyfleet-operator)
  --leader-election-namespace NS     namespace of the Lease (env POD_NAMESPACE; default: the pod's namespace)
  --metrics-addr ADDR                listen address for /healthz /readyz /metrics (default :8080; env METRICS_ADDR)
  --log-level LEVEL                  debug, info, warn or error (default info; env LOG_LEVEL)
  --help                             print this help
`;

const serviceAccountNamespace = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export class UsageError extends Error {}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig | 'help' {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      args: argv,
      allowNegative: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'leader-elect': { type: 'boolean', default: true },
        'leader-election-id': { type: 'string', default: 'keyfleet-operator' },
        'leader-election-namespace': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  }
  try {
    values = parse().values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  if (values.help) return 'help';
  const namespace = values.namespace ?? env['WATCH_NAMESPACE'] ?? '';
  const metricsAddr = values['metrics-addr'] ?? env['METRICS_ADDR'] ?? ':8080';
  try {
    parseListenAddress(metricsAddr);
  } catch (err) {
    throw new UsageError(`--metrics-addr: ${(err as Error).message}`);
  }
  let logLevel: Level;
  try {
    logLevel = parseLevel(values['log-level'] ?? env['LOG_LEVEL']);
  } catch (err) {
    throw new UsageError(`--log-level: ${(err as Error).message}`);
  }
  const inClusterNamespace = existsSync(serviceAccountNamespace)
    ? readFileSync(serviceAccountNamespace, 'utf8').trim()
    : undefined;
  const leaderElectionNamespace =
    values['leader-election-namespace'] ??
    env['POD_NAMESPACE'] ??
    inClusterNamespace ??
    (namespace || 'default');
  const identity = `${env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  return {
    kubeconfig: values.kubeconfig ?? env['KUBECONFIG'],
    namespace,
    leaderElect: values['leader-elect'] ?? true,
    leaderElectionId: values['leader-election-id'] ?? 'keyfleet-operator',
    leaderElectionNamespace,
    metricsAddr,
    logLevel,
    identity,
    shutdownTimeoutMs: 25_000,
  };
}

export function loadKubeConfig(cfg: Pick<OperatorConfig, 'kubeconfig'>, env = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else if (env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export interface RunningOperator {
  manager: Manager;
  address: { host: string; port: number };
  /** Resolves when the manager has stopped and the server closed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startOperator(
  cfg: OperatorConfig,
  deps: { logger?: Logger; controllers?: ControllerRegistration[]; kubeConfig?: KubeConfig } = {},
): Promise<RunningOperator> {
  const logger = deps.logger ?? createLogger({ level: cfg.logLevel });
  const metrics = createOperatorMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const kc = deps.kubeConfig ?? loadKubeConfig(cfg);
  const client = new KubeClient(new KubeConfigTransport(kc));
  const manager = new Manager({
    client,
    identity: cfg.identity,
    namespace: cfg.namespace || undefined,
    leaderElection: cfg.leaderElect
      ? { namespace: cfg.leaderElectionNamespace, name: cfg.leaderElectionId }
      : false,
    controllers: deps.controllers ?? controllerRegistry,
    logger,
    metrics,
  });
  const server = await listen(
    createHealthApp({ readiness: () => manager.readiness(), registry: metrics.registry }),
    cfg.metricsAddr,
  );
  logger.info('operator starting', {
    identity: cfg.identity,
    namespace: cfg.namespace || '(all)',
    leaderElection: cfg.leaderElect ? `${cfg.leaderElectionNamespace}/${cfg.leaderElectionId}` : 'off',
    server: kc.getCurrentCluster()?.server,
    healthAddress: `${server.address.host}:${server.address.port}`,
    controllers: (deps.controllers ?? controllerRegistry).map((c) => c.name),
  });
  const stopper = new AbortController();
  const done = manager.run(stopper.signal).finally(() => server.close());
  return {
    manager,
    address: server.address,
    done,
    stop: async () => {
      stopper.abort();
      await done;
    },
  };
}

async function cli(): Promise<void> {
  let cfg: OperatorConfig | 'help';
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  if (cfg === 'help') {
    process.stdout.write(usage);
    return;
  }
  const logger = createLogger({ level: cfg.logLevel });
  const op = await startOperator(cfg, { logger });
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      logger.warn('second signal: exiting without a clean hand-over', { signal: sig });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down: stopping controllers and releasing the lease', { signal: sig });
    setTimeout(() => {
      logger.error('shutdown took too long; exiting', { timeoutMs: cfg.shutdownTimeoutMs });
      process.exit(1);
    }, cfg.shutdownTimeoutMs).unref();
    op.stop().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await op.done;
}

if (import.meta.main) {
  cli().catch((err: unknown) => {
    createLogger().error('operator failed', { err });
    process.exit(1);
  });
}
