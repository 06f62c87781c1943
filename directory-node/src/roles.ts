// Wiring of the three directory-node roles (publisher, reader, witness) from a configuration.
// Each returns the HTTP server it listens on and a close function.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { ed25519Signer } from '@keyfleet/sdk/attestation/ed25519';
import { createApp } from './api/app.ts';
import { changesRouter } from './api/changes.ts';
import { readerRouter } from './api/reader.ts';
import { loadSigningKeys, loadVrfKeys, parseKeyBytes } from './keys.ts';
import type { Log } from './log.ts';
import { createMetrics } from './metrics.ts';
import { WorkerLabelDeriver } from './publisher/labels.ts';
import { Publisher, type PublisherOptions } from './publisher/publisher.ts';
import { openAuditStorage } from './publisher/s3-audit-config.ts';
import type { S3AuditConfig } from './publisher/s3-audit-storage.ts';
import { FileWriterLock, type WriterLock } from './publisher/writer-lock.ts';
import { PostgresStorage } from './storage/postgres.ts';
import { SqliteStorage } from './storage/sqlite.ts';
import type { CommitStep, DirectoryStorage } from './storage/types.ts';
import { whatsappV1Hasher } from './tree/hasher.ts';
import { witnessRouter } from './witness/api.ts';
import { attestationCountersignRouter } from './witness/attestation-countersign.ts';
import { HttpDirectorySource } from './witness/source.ts';
import { WitnessState } from './witness/state.ts';
import { Witness } from './witness/witness.ts';

export type Listen = { readonly host: string; readonly port: number };
export type Running = { readonly server: Server; readonly port: number; close(): Promise<void> };

async function listen(
  app: ReturnType<typeof createApp>,
  at: Listen,
): Promise<{ server: Server; port: number }> {
  const server = app.listen(at.port, at.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : at.port };
}

const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));

export type PublisherConfig = {
  readonly namespace: string;
  readonly listen: Listen;
  readonly dataDir: string;
  /** filesystem audit storage; not needed when auditS3 is given */
  readonly auditDir?: string;
  /** S3-compatible audit storage instead of auditDir */
  readonly auditS3?: S3AuditConfig;
  readonly vrfKeyFile: string;
  readonly signingKeyFile: string;
  readonly epochIntervalMs: number;
  readonly maxBatchSize: number;
  readonly maxQueueDepth: number;
  readonly labelThreads: number;
  /** also serve the read API from this process */
  readonly serveReads: boolean;
  /** PostgreSQL instead of the embedded SQLite database in dataDir */
  readonly postgresUrl?: string;
  readonly lock?: WriterLock;
  readonly hooks?: Pick<PublisherOptions, 'afterCommit'> & { onCommitStep?: (step: CommitStep) => void };
};

async function openStorage(
  c: { dataDir: string; postgresUrl?: string },
  options: { readOnly?: boolean; onCommitStep?: (step: CommitStep) => void },
): Promise<DirectoryStorage> {
  if (c.postgresUrl)
    return PostgresStorage.open({ connectionString: c.postgresUrl, onCommitStep: options.onCommitStep });
  return new SqliteStorage(join(c.dataDir, 'directory.db'), options);
}

export async function startPublisher(c: PublisherConfig, log: Log): Promise<Running> {
  mkdirSync(c.dataDir, { recursive: true });
  const vrf = loadVrfKeys(c.vrfKeyFile);
  const signing = loadSigningKeys(c.signingKeyFile);
  const storage = await openStorage(c, { onCommitStep: c.hooks?.onCommitStep });
  const audit = openAuditStorage(c, true);
  const metrics = createMetrics({ defaults: true });
  const labels = new WorkerLabelDeriver(vrf.secret, vrf.expanded, c.labelThreads);
  const lock = c.lock ?? new FileWriterLock(join(c.dataDir, 'writer.lock'));
  const ctx = { namespace: c.namespace, hasher: whatsappV1Hasher, vrf, signing, labels, now: Date.now };
  const publisher = new Publisher(
    storage,
    ctx,
    audit,
    lock,
    {
      maxBatchSize: c.maxBatchSize,
      epochIntervalMs: c.epochIntervalMs,
      afterCommit: c.hooks?.afterCommit,
      log,
    },
    metrics,
  );
  await publisher.init();
  publisher.start((e) => log('publish.error', { error: (e as Error).message }));
  const routers = [changesRouter({ storage, maxQueueDepth: c.maxQueueDepth, metrics })];
  if (c.serveReads) {
    routers.push(
      readerRouter({
        namespace: c.namespace,
        storage,
        audit,
        hasher: whatsappV1Hasher,
        vrf,
        signingPublicKey: signing.publicKey,
        metrics,
      }),
    );
  }
  const app = createApp({
    routers,
    registry: metrics.registry,
    notReadyReason: () => (lock.held() ? undefined : 'not the directory writer'),
    log,
  });
  const { server, port } = await listen(app, c.listen);
  log('publisher.listening', { port, namespace: c.namespace });
  return {
    server,
    port,
    close: async () => {
      await closeServer(server);
      await publisher.stop();
      await labels.close();
      await storage.close();
      audit.close?.();
    },
  };
}

export type ReaderConfig = {
  readonly namespace: string;
  readonly listen: Listen;
  readonly dataDir: string;
  /** filesystem audit storage; not needed when auditS3 is given */
  readonly auditDir?: string;
  /** S3-compatible audit storage instead of auditDir */
  readonly auditS3?: S3AuditConfig;
  readonly vrfKeyFile: string;
  readonly signingPublicKeyFile: string;
  readonly postgresUrl?: string;
};

export async function startReader(c: ReaderConfig, log: Log): Promise<Running> {
  const dbPath = join(c.dataDir, 'directory.db');
  for (let i = 0; !c.postgresUrl && !existsSync(dbPath); i++) {
    if (i === 0) log('reader.waiting', { reason: 'no directory database yet' });
    await new Promise((r) => setTimeout(r, 500));
  }
  const vrf = loadVrfKeys(c.vrfKeyFile);
  const signingPublicKey = parseKeyBytes(readFileSync(c.signingPublicKeyFile), 'signing public key file');
  const storage = await openStorage(c, { readOnly: true });
  const audit = openAuditStorage(c, false);
  const metrics = createMetrics({ defaults: true });
  const app = createApp({
    routers: [
      readerRouter({
        namespace: c.namespace,
        storage,
        audit,
        hasher: whatsappV1Hasher,
        vrf,
        signingPublicKey,
        metrics,
      }),
    ],
    registry: metrics.registry,
    notReadyReason: () => undefined,
    log,
  });
  const { server, port } = await listen(app, c.listen);
  log('reader.listening', { port, namespace: c.namespace });
  return {
    server,
    port,
    close: async () => {
      await closeServer(server);
      await storage.close();
      audit.close?.();
    },
  };
}

export type WitnessConfig = {
  readonly namespace: string;
  readonly listen: Listen;
  readonly directoryUrl: string;
  readonly publisherPublicKeyFile: string;
  readonly witnessKeyFile: string;
  readonly stateDir: string;
  readonly pollIntervalMs: number;
  /** The mounted `<kd>-attestation-signers` ConfigMap: fleets' attestation keys (attestation-countersign.ts). */
  readonly attestationSignersDir?: string;
};

export async function startWitness(c: WitnessConfig, log: Log): Promise<Running> {
  mkdirSync(c.stateDir, { recursive: true });
  const signing = loadSigningKeys(c.witnessKeyFile);
  const publisherKey = parseKeyBytes(readFileSync(c.publisherPublicKeyFile), 'publisher public key file');
  const state = new WitnessState(join(c.stateDir, 'witness.db'));
  const metrics = createMetrics({ defaults: true });
  const witness = new Witness({
    namespace: c.namespace,
    publisherKey,
    signing,
    source: new HttpDirectorySource(c.directoryUrl),
    state,
    now: Date.now,
    metrics,
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let lastError: string | undefined;
  const loop = async () => {
    try {
      const res = await witness.catchUp(1000);
      lastError = undefined;
      if (res.kind === 'refused') log('witness.refused', { reason: res.reason });
    } catch (e) {
      lastError = (e as Error).message;
      log('witness.error', { error: lastError });
    }
    if (timer !== undefined) timer = setTimeout(() => (running = loop()), c.pollIntervalMs);
  };
  timer = setTimeout(() => (running = loop()), 0);
  const app = createApp({
    routers: [
      witnessRouter({ namespace: c.namespace, publicKey: signing.publicKey, witness }),
      attestationCountersignRouter({
        signersDir: c.attestationSignersDir,
        state,
        witness: ed25519Signer(signing.secret),
        now: Date.now,
      }),
    ],
    registry: metrics.registry,
    notReadyReason: () => witness.state().refusal ?? lastError,
    log,
  });
  const { server, port } = await listen(app, c.listen);
  log('witness.listening', { port, namespace: c.namespace });
  return {
    server,
    port,
    close: async () => {
      const t = timer;
      timer = undefined;
      if (t) clearTimeout(t);
      await running;
      await closeServer(server);
      state.close();
    },
  };
}
