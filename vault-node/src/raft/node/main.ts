// A runnable Raft member serving the key-value/counter state machine over HTTP: the target of
// the real-process fault tests (test/integration/raft) and benchmarks (test/bench/raft.ts).
// It authenticates peers with the seed-derived TEST keys, so it is for tests only; the vault
// server wires RaftNode to its HSM identity keys instead.
//
//   npm exec -- node vault-node/src/raft/node/main.ts --help

import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Registry } from 'prom-client';
import { MEMBER_ID_PATTERN } from '../storage/bytes.ts';
import { isTestAuthBackend, TEST_AUTH_BACKENDS, testAuthenticator } from '../transport/test-auth-backend.ts';
import type { MemberId } from '../types.ts';
import { NotLeaderError, ProposalDroppedError, RaftTimeoutError } from './errors.ts';
import { encodeKvCommand, type KvCommand, KvStateMachine, kvCommandProblem } from './kv-state-machine.ts';
import { jsonLogger } from './logger.ts';
import { RaftNode } from './raft-node.ts';

const HELP = `usage: node vault-node/src/raft/node/main.ts [flags]   (each flag also reads RAFT_<NAME> from the environment)

  --id ID                 this member's id (RAFT_ID)
  --peers LIST            every member as id=url, comma-separated, this one included (RAFT_PEERS)
  --data-dir DIR          where the log, hard state and snapshots live (RAFT_DATA_DIR)
  --listen HOST:PORT      address to serve peers and clients on (RAFT_LISTEN)
  --test-key-seed SEED    seed of the TEST identities (RAFT_TEST_KEY_SEED); tests only
  --auth-backend B        how test messages are authenticated: mac (pairwise MACs, as the vault;
                          default), or Ed25519 signatures with openssl or noble
  --join                  start with an empty membership (to be added as a learner by the leader)
  --tick-ms N             tick interval (default 100)
  --election-ticks N      ticks before a follower campaigns (default 10)
  --heartbeat-ticks N     ticks between the leader's heartbeats (default 1)
  --snapshot-entries N    snapshot and compact every N applied entries (default 10000)
  --test-admin            enable /admin/* (partitions, transfer, membership, in-process load)
  --help`;

function fail(msg: string): never {
  process.stderr.write(`error: ${msg}\n\n${HELP}\n`);
  process.exit(2);
}

const { values: flags } = parseArgs({
  options: {
    id: { type: 'string' },
    peers: { type: 'string' },
    'data-dir': { type: 'string' },
    listen: { type: 'string' },
    'test-key-seed': { type: 'string' },
    'auth-backend': { type: 'string' },
    join: { type: 'boolean', default: false },
    'tick-ms': { type: 'string' },
    'election-ticks': { type: 'string' },
    'heartbeat-ticks': { type: 'string' },
    'snapshot-entries': { type: 'string' },
    'test-admin': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const flag = (name: string): string | undefined =>
  ((flags as Record<string, string | boolean | undefined>)[name] as string | undefined) ??
  process.env[`RAFT_${name.toUpperCase().replaceAll('-', '_')}`];
const required = (name: string): string => flag(name) ?? fail(`--${name} is required`);
const int = (name: string, dflt: number): number => {
  const v = flag(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${name} must be a positive integer`);
  return n;
};

const id = required('id');
const peers = new Map<MemberId, string>();
for (const part of required('peers').split(',')) {
  const [pid, url] = part.split('=');
  if (!pid || !url || !MEMBER_ID_PATTERN.test(pid) || !/^https?:\/\//.test(url))
    fail(`bad peer ${JSON.stringify(part)}`);
  peers.set(pid, url);
}
if (!peers.has(id)) fail(`--peers must include this member (${id})`);
const [host, portText] = required('listen').split(/:(?=\d+$)/);
const port = Number(portText);
if (!host || !Number.isInteger(port)) fail('--listen must be HOST:PORT');
const dataDir = required('data-dir');
mkdirSync(dataDir, { recursive: true });
const seed = required('test-key-seed');
const backend = flag('auth-backend') ?? 'mac';
if (!isTestAuthBackend(backend)) fail(`--auth-backend must be one of ${TEST_AUTH_BACKENDS.join(', ')}`);

const log = jsonLogger(`raft/${id}`);
const registry = new Registry();
const sm = new KvStateMachine();
const node = await RaftNode.start({
  id,
  peers,
  dataDir,
  stateMachine: sm,
  authenticator: testAuthenticator(seed, id, peers.keys(), backend),
  registry,
  bootstrap: flags.join ? { voters: [], learners: [] } : { voters: [...peers.keys()], learners: [] },
  tickMs: int('tick-ms', 100),
  electionTicks: int('election-ticks', 10),
  heartbeatTicks: int('heartbeat-ticks', 1),
  snapshotEntries: int('snapshot-entries', 10_000),
  logger: log,
  onFatal: () => process.exit(1),
});

const app = express();
app.disable('x-powered-by');
app.use(node.transport.router);
app.use('/v1', express.json({ limit: '128kb' }));

class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Maps Raft errors onto HTTP: 421 with the leader's address for a follower, 503 otherwise. */
function send(res: Response, e: unknown): void {
  if (e instanceof NotLeaderError) {
    res.status(421).json({
      error: { code: 'not-leader', message: e.message },
      leader: { id: e.leaderId, url: e.leaderUrl },
    });
  } else if (e instanceof RaftTimeoutError) {
    res.status(503).json({ error: { code: 'timeout', message: e.message } });
  } else if (e instanceof ProposalDroppedError) {
    res.status(503).json({ error: { code: e.reason, message: e.message } });
  } else if (e instanceof ApiError) {
    res.status(e.status).json({ error: { code: e.code, message: e.message } });
  } else {
    log('error', 'request failed', { error: e instanceof Error ? e.message : String(e) });
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  }
}

const handler = (fn: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response) =>
  fn(req, res).then(
    (body) => res.json(body),
    (e: unknown) => send(res, e),
  );

async function proposeKv(cmd: KvCommand): Promise<unknown> {
  const problem = kvCommandProblem(cmd);
  if (problem) throw new ApiError(400, 'invalid', problem);
  return JSON.parse(new TextDecoder().decode(await node.propose(encodeKvCommand(cmd))));
}

app.put(
  '/v1/kv/:key',
  handler(async (req) => {
    const value = (req.body as { value?: unknown } | undefined)?.value;
    if (typeof value !== 'string') throw new ApiError(400, 'invalid', 'body must be {"value": string}');
    return proposeKv({ op: 'put', key: String(req.params.key), value });
  }),
);
app.post(
  '/v1/counter/:key/incr',
  handler(async (req) => proposeKv({ op: 'incr', key: String(req.params.key) })),
);
app.get(
  '/v1/kv/:key',
  handler(async (req) => {
    const index = await node.readIndex();
    const key = String(req.params.key);
    return { key, value: sm.kv.get(key) ?? null, readIndex: index };
  }),
);
/** Everything this member has applied, read locally (no read barrier): what the tests compare. */
app.get('/v1/dump', (_req, res) => {
  res.json({
    applied: node.status().applied,
    kv: Object.fromEntries(sm.kv),
    counters: Object.fromEntries(sm.counters),
  });
});
app.get('/v1/status', (_req, res) => {
  res.json(node.status());
});
app.get('/healthz', (_req, res) => {
  res.json({ ok: true });
});
app.get('/metrics', async (_req, res) => {
  res.type(registry.contentType).send(await registry.metrics());
});

if (flags['test-admin']) {
  app.use('/admin', express.json({ limit: '16kb' }));
  app.post('/admin/partition', (req, res) => {
    const blocked = (req.body as { blocked?: unknown } | undefined)?.blocked;
    if (!Array.isArray(blocked) || !blocked.every((b) => typeof b === 'string')) {
      return send(res, new ApiError(400, 'invalid', 'body must be {"blocked": [member ids]}'));
    }
    node.transport.setBlocked(blocked as string[]);
    log('warn', 'test partition set', { blocked });
    res.json({ blocked });
  });
  app.post(
    '/admin/transfer',
    handler(async (req) => {
      const to = (req.body as { to?: unknown } | undefined)?.to;
      if (typeof to !== 'string') throw new ApiError(400, 'invalid', 'body must be {"to": member id}');
      await node.transferLeadership(to);
      return { leader: to };
    }),
  );
  app.post(
    '/admin/membership',
    handler(async (req) => {
      const { kind, member, url } = (req.body ?? {}) as { kind?: unknown; member?: unknown; url?: unknown };
      if (typeof member !== 'string' || !MEMBER_ID_PATTERN.test(member))
        throw new ApiError(400, 'invalid', 'member id');
      if (kind === 'add-learner') {
        if (typeof url !== 'string') throw new ApiError(400, 'invalid', 'url required');
        await node.addLearner(member, url);
      } else if (kind === 'promote') await node.promote(member);
      else if (kind === 'remove') await node.remove(member);
      else throw new ApiError(400, 'invalid', 'kind must be add-learner, promote or remove');
      return { status: node.status() };
    }),
  );
  // In-process load: `concurrency` proposers propose back to back for `durationMs`, measuring
  // propose-to-applied latency here, without an HTTP client in the loop.
  app.post(
    '/admin/load',
    handler(async (req) => {
      const { concurrency, durationMs, valueBytes } = (req.body ?? {}) as Record<string, unknown>;
      const c = Number(concurrency);
      const d = Number(durationMs);
      const v = Number(valueBytes ?? 64);
      if (!(c >= 1 && c <= 1024 && d >= 100 && d <= 60_000 && v >= 0 && v <= 4096)) {
        throw new ApiError(400, 'invalid', 'concurrency 1..1024, durationMs 100..60000, valueBytes 0..4096');
      }
      if (!node.isLeader) throw new NotLeaderError(node.status().leader, node.status().leaderUrl);
      const value = 'x'.repeat(v);
      const latencies: number[] = [];
      let failures = 0;
      const end = performance.now() + d;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: c }, async (_, w) => {
          for (let i = 0; performance.now() < end; i++) {
            const t0 = performance.now();
            try {
              await node.propose(encodeKvCommand({ op: 'put', key: `load-${w}-${i}`, value }));
              latencies.push(performance.now() - t0);
            } catch {
              failures++;
            }
          }
        }),
      );
      return { latenciesMs: latencies, failures, elapsedMs: performance.now() - start };
    }),
  );
}

app.use(
  '/v1',
  (
    err: { status?: number; type?: string; message?: string },
    _req: Request,
    res: Response,
    next: NextFunction,
  ) => {
    if (typeof err.status === 'number' && err.status < 500) {
      res
        .status(err.status)
        .json({ error: { code: err.type ?? 'invalid', message: err.message ?? 'bad request' } });
    } else next(err);
  },
);

app.use((req, res) => {
  res.status(404).json({ error: { code: 'not-found', message: `no route for ${req.method} ${req.path}` } });
});

const server = app.listen(port, host, () => log('info', 'listening', { host, port }));
server.keepAliveTimeout = 60_000;
const shutdown = async () => {
  server.close();
  await node.stop();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
