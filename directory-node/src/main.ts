// directory-node: the AKD publisher, reader and witness in one binary.
//   node directory-node/src/main.ts --mode publisher|reader|witness [options]   (--help)
// Every option can also be given as an environment variable KEYFLEET_<OPTION> (upper case,
// dashes as underscores), e.g. KEYFLEET_VRF_KEY_FILE. Flags win over the environment.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { jsonLog } from './log.ts';
import { kubernetesWriterLock } from './publisher/kubernetes-writer-lock.ts';
import { s3AuditConfig } from './publisher/s3-audit-config.ts';
import { type Listen, type Running, startPublisher, startReader, startWitness } from './roles.ts';

const OPTIONS = {
  mode: { type: 'string', help: 'publisher | reader | witness' },
  listen: { type: 'string', help: 'host:port to serve HTTP on (default 0.0.0.0:8080)' },
  namespace: { type: 'string', help: 'directory namespace, signed into epoch heads' },
  'data-dir': { type: 'string', help: 'publisher/reader: directory database directory (SQLite)' },
  'postgres-url': { type: 'string', help: 'publisher/reader: use PostgreSQL at this URL instead of SQLite' },
  'audit-dir': {
    type: 'string',
    help: 'publisher/reader: filesystem audit storage (unless --audit-s3-bucket)',
  },
  'audit-s3-bucket': {
    type: 'string',
    help: 'publisher/reader: S3 audit storage bucket (AWS_ACCESS_KEY_ID/..)',
  },
  'audit-s3-endpoint': { type: 'string', help: 'publisher/reader: S3-compatible endpoint URL (path-style)' },
  'audit-s3-region': { type: 'string', help: 'publisher/reader: S3 region (default us-east-1)' },
  'audit-s3-prefix': { type: 'string', help: 'publisher/reader: key prefix of the audit blobs' },
  'vrf-key-file': { type: 'string', help: 'publisher/reader: VRF secret key (32 bytes raw or hex)' },
  'signing-key-file': { type: 'string', help: 'publisher: Ed25519 secret key for epoch heads' },
  'signing-public-key-file': { type: 'string', help: 'reader: the publisher Ed25519 public key' },
  'epoch-interval-ms': { type: 'string', help: 'publisher: longest wait of a change (default 10000)' },
  'max-batch-size': { type: 'string', help: 'publisher: most changes per epoch (default 10000)' },
  'max-queue-depth': { type: 'string', help: 'publisher: most queued changes (default 1000000)' },
  'label-threads': { type: 'string', help: 'publisher: VRF worker threads (default: CPU count)' },
  'serve-reads': { type: 'string', help: 'publisher: also serve the read API (default true)' },
  'writer-lease': {
    type: 'string',
    help: 'publisher: elect the writer with this Kubernetes Lease (in-cluster; namespace from POD_NAMESPACE)',
  },
  'directory-url': { type: 'string', help: 'witness: base URL of a directory reader' },
  'publisher-public-key-file': { type: 'string', help: 'witness: the publisher Ed25519 public key' },
  'witness-key-file': { type: 'string', help: 'witness: Ed25519 secret key for countersignatures' },
  'state-dir': { type: 'string', help: 'witness: durable state directory' },
  'poll-interval-ms': { type: 'string', help: 'witness: how often to look for epochs (default 2000)' },
  'attestation-signers-dir': {
    type: 'string',
    help: 'witness: directory of fleet attestation keys (<ns>.<fleet> files) it countersigns for',
  },
  help: { type: 'boolean', help: 'print this help' },
} as const;

function usage(): string {
  const lines = Object.entries(OPTIONS).map(([k, o]) => `  --${k.padEnd(26)} ${o.help}`);
  return `usage: directory-node --mode publisher|reader|witness [options]\n${lines.join('\n')}\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])),
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage());
    return;
  }
  const optional = (name: keyof typeof OPTIONS): string | undefined => {
    const v = values[name] ?? process.env[`KEYFLEET_${name.toUpperCase().replaceAll('-', '_')}`];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const opt = (name: keyof typeof OPTIONS, fallback?: string): string => {
    const v = values[name] ?? process.env[`KEYFLEET_${name.toUpperCase().replaceAll('-', '_')}`] ?? fallback;
    if (typeof v !== 'string' || v === '') throw new Error(`missing --${name}`);
    return v;
  };
  const num = (name: keyof typeof OPTIONS, fallback: number): number => {
    const n = Number(opt(name, String(fallback)));
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const listenAt = (): Listen => {
    const raw = opt('listen', '0.0.0.0:8080');
    const i = raw.lastIndexOf(':');
    const port = Number(raw.slice(i + 1));
    if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error('--listen must be host:port');
    return { host: raw.slice(0, i), port };
  };
  // S3 audit storage when a bucket is given, else the filesystem directory --audit-dir.
  const auditStorage = () => {
    const s3 = s3AuditConfig(
      {
        endpoint: optional('audit-s3-endpoint'),
        region: optional('audit-s3-region'),
        bucket: optional('audit-s3-bucket'),
        prefix: optional('audit-s3-prefix'),
      },
      process.env,
    );
    return { auditS3: s3, auditDir: s3 ? optional('audit-dir') : opt('audit-dir') };
  };
  const mode = opt('mode');
  const log = jsonLog(mode);
  let started: Promise<Running>;
  if (mode === 'publisher') {
    const writerLease = optional('writer-lease');
    started = startPublisher(
      {
        namespace: opt('namespace'),
        listen: listenAt(),
        dataDir: opt('data-dir'),
        ...auditStorage(),
        vrfKeyFile: opt('vrf-key-file'),
        signingKeyFile: opt('signing-key-file'),
        epochIntervalMs: num('epoch-interval-ms', 10_000),
        maxBatchSize: num('max-batch-size', 10_000),
        maxQueueDepth: num('max-queue-depth', 1_000_000),
        labelThreads: num('label-threads', availableParallelism()),
        serveReads: opt('serve-reads', 'true') === 'true',
        postgresUrl: optional('postgres-url'),
        lock: writerLease === undefined ? undefined : kubernetesWriterLock(writerLease, log),
      },
      log,
    );
  } else if (mode === 'reader') {
    started = startReader(
      {
        namespace: opt('namespace'),
        listen: listenAt(),
        dataDir: opt('data-dir'),
        ...auditStorage(),
        vrfKeyFile: opt('vrf-key-file'),
        signingPublicKeyFile: opt('signing-public-key-file'),
        postgresUrl: optional('postgres-url'),
      },
      log,
    );
  } else if (mode === 'witness') {
    started = startWitness(
      {
        namespace: opt('namespace'),
        listen: listenAt(),
        directoryUrl: opt('directory-url'),
        publisherPublicKeyFile: opt('publisher-public-key-file'),
        witnessKeyFile: opt('witness-key-file'),
        stateDir: opt('state-dir'),
        pollIntervalMs: num('poll-interval-ms', 2000),
        attestationSignersDir: optional('attestation-signers-dir'),
      },
      log,
    );
  } else {
    throw new Error(`unknown --mode ${JSON.stringify(mode)}: publisher, reader or witness`);
  }
  started.then(
    (running) => {
      const stop = () => {
        log('shutdown', {});
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (e: unknown) => {
      log('startup.failed', { error: (e as Error).message });
      process.exit(1);
    },
  );
}

try {
  main();
} catch (e) {
  process.stderr.write(`directory-node: ${(e as Error).message}\n${usage()}`);
  process.exit(2);
}
