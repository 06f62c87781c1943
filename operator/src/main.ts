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
import { keyDirectoryController } from './controllers/keydirectory/controller.ts';
import { vaultFleetController } from './controllers/vaultfleet/controller.ts';
import { parseDuration } from './duration.ts';
import { createLogger, type Level, type Logger, parseLevel } from './log.ts';
import { createOperatorMetrics } from './metrics.ts';
import { KubeClient } from './runtime/client.ts';
import { checkLeaseTimings } from './runtime/leaderelection.ts';
import { type ControllerRegistration, Manager } from './runtime/manager.ts';
import { createHealthApp, listen, parseListenAddress } from './runtime/server.ts';
import { KubeConfigTransport } from './runtime/transport.ts';

/** The controllers this operator runs (operator/src/controllers/). */
export const controllerRegistry: ControllerRegistration[] = [vaultFleetController, keyDirectoryController];

export interface OperatorConfig {
  kubeconfig?: string;
  /** Empty watches all namespaces. */
  namespaces: string[];
  leaderElect: boolean;
  leaderElectionId: string;
  leaderElectionNamespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  metricsAddress: string;
  logLevel: Level;
  images: Record<string, string>;
  identity: string;
  shutdownTimeoutMs: number;
}

export const usage = `Usage: node operator/src/main.ts [flags]

  --kubeconfig PATH                 kubeconfig to use (env KUBECONFIG); in a pod the service account is used
  --watch-namespaces A,B            namespaces to manage; empty for all (env WATCH_NAMESPACES; --namespace NS for one)
  --leader-elect[=true|false]       campaign for the leader Lease before running controllers (default true)
  --leader-election-id NAME         name of the Lease (default keyfleet-operator)
  --leader-election-namespace NS    namespace of the Lease (env POD_NAMESPACE; default: the pod's namespace)
  --lease-duration D                how long a Lease holds without renewal (default 15s)
  --renew-deadline D                how long the leader keeps trying to renew before it stops leading (default 10s)
  --retry-period D                  how often candidates try and the leader renews (default 2s)
  --metrics-address ADDR            listen address for /healthz /readyz /metrics (default :8080; env METRICS_ADDRESS)
  --log-level LEVEL                 debug, info, warn or error (default info; env LOG_LEVEL)
  --vault-node-image IMAGE          image of vault members (env VAULT_NODE_IMAGE)
  --directory-node-image IMAGE      image of key directory servers (env DIRECTORY_NODE_IMAGE)
  --help                            print this help

Durations are Go-style: 500ms, 2s, 1m30s.
`;

const serviceAccountNamespace = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export class UsageError extends Error {}

export { parseDuration };

// `--leader-elect=false` is how the chart (and Go tools) spell it; parseArgs wants booleans bare.
function normalizeBooleans(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^--(leader-elect)=(true|false)$/.exec(a);
    return m ? (m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`) : a;
  });
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig | 'help' {
  const parse = () =>
    parseArgs({
      args: normalizeBooleans(argv),
      allowNegative: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        'watch-namespaces': { type: 'string' },
        namespace: { type: 'string' },
        'leader-elect': { type: 'boolean', default: true },
        'leader-election-id': { type: 'string', default: 'keyfleet-operator' },
        'leader-election-namespace': { type: 'string' },
        'lease-duration': { type: 'string', default: '15s' },
        'renew-deadline': { type: 'string', default: '10s' },
        'retry-period': { type: 'string', default: '2s' },
        'metrics-address': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'log-level': { type: 'string' },
        'vault-node-image': { type: 'string' },
        'directory-node-image': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  let values: ReturnType<typeof parse>;
  try {
    values = parse();
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  if (values.help) return 'help';
  const flag = <T>(name: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new UsageError(`--${name}: ${(err as Error).message}`);
    }
  };
  const namespaceList =
    values['watch-namespaces'] ?? values.namespace ?? env['WATCH_NAMESPACES'] ?? env['WATCH_NAMESPACE'] ?? '';
  const namespaces = [
    ...new Set(
      namespaceList
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== ''),
    ),
  ];
  const metricsAddress =
    values['metrics-address'] ?? values['metrics-addr'] ?? env['METRICS_ADDRESS'] ?? ':8080';
  flag('metrics-address', () => parseListenAddress(metricsAddress));
  const logLevel = flag('log-level', () => parseLevel(values['log-level'] ?? env['LOG_LEVEL']));
  const leaseDurationMs = flag('lease-duration', () => parseDuration(values['lease-duration'] ?? '15s'));
  const renewDeadlineMs = flag('renew-deadline', () => parseDuration(values['renew-deadline'] ?? '10s'));
  const retryPeriodMs = flag('retry-period', () => parseDuration(values['retry-period'] ?? '2s'));
  flag('lease-duration', () => checkLeaseTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }));
  const inClusterNamespace = existsSync(serviceAccountNamespace)
    ? readFileSync(serviceAccountNamespace, 'utf8').trim()
    : undefined;
  const leaderElectionNamespace =
    values['leader-election-namespace'] ??
    env['POD_NAMESPACE'] ??
    inClusterNamespace ??
    (namespaces[0] || 'default');
  const images: Record<string, string> = {};
  const vaultNode = values['vault-node-image'] ?? env['VAULT_NODE_IMAGE'];
  const directoryNode = values['directory-node-image'] ?? env['DIRECTORY_NODE_IMAGE'];
  if (vaultNode) images['vaultNode'] = vaultNode;
  if (directoryNode) images['directoryNode'] = directoryNode;
  return {
    kubeconfig: values.kubeconfig ?? env['KUBECONFIG'],
    namespaces,
    leaderElect: values['leader-elect'] ?? true,
    leaderElectionId: values['leader-election-id'] ?? 'keyfleet-operator',
    leaderElectionNamespace,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    metricsAddress,
    logLevel,
    images,
    identity: `${env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`,
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
    namespaces: cfg.namespaces,
    images: cfg.images,
    leaderElection: cfg.leaderElect
      ? {
          namespace: cfg.leaderElectionNamespace,
          name: cfg.leaderElectionId,
          leaseDurationMs: cfg.leaseDurationMs,
          renewDeadlineMs: cfg.renewDeadlineMs,
          retryPeriodMs: cfg.retryPeriodMs,
        }
      : false,
    controllers: deps.controllers ?? controllerRegistry,
    logger,
    metrics,
  });
  const server = await listen(
    createHealthApp({ readiness: () => manager.readiness(), registry: metrics.registry }),
    cfg.metricsAddress,
  );
  logger.info('operator starting', {
    identity: cfg.identity,
    namespaces: cfg.namespaces.length ? cfg.namespaces : '(all)',
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
