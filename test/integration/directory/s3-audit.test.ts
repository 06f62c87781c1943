// Audit storage in an S3-compatible server (moto on loopback): a publisher (in process, through
// roles.ts) publishes epochs into the bucket, a reader serves the blobs from it, and a witness
// verifies and countersigns every epoch through that reader, across a publisher restart that
// finds a committed epoch whose blob never reached the bucket. Then the directory-node binary
// itself is run with the --audit-s3-* options and AWS_* credentials.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Log } from '../../../directory-node/src/log.ts';
import type { S3AuditConfig } from '../../../directory-node/src/publisher/s3-audit-storage.ts';
import { startS3Server, type TestS3Server } from '../../../directory-node/src/publisher/s3-test-server.ts';
import {
  type Running,
  startPublisher,
  startReader,
  startWitness,
} from '../../../directory-node/src/roles.ts';
import { verifyCountersignature } from '../../../directory-node/src/witness/countersignature.ts';
import { type Child, json, MAIN, postChange, startChild, stopChild, waitFor, writeKeys } from './harness.ts';

const NS = 'it-s3-audit';
let s3: TestS3Server;
const running: Running[] = [];
const children: Child[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
}, 90_000);
afterAll(async () => {
  await s3?.stop();
});
afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
  for (const r of running.splice(0).reverse()) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kf-it-s3-'));
  dirs.push(d);
  return d;
}

function quietLog(lines: Record<string, unknown>[]): Log {
  return (event, fields) => lines.push({ event, ...fields });
}

async function bucketKeys(c: S3AuditConfig): Promise<string[]> {
  const res = await s3.client().send(new ListObjectsV2Command({ Bucket: c.bucket }));
  return (res.Contents ?? []).map((o) => o.Key ?? '');
}

async function objectBytes(c: S3AuditConfig, key: string): Promise<Uint8Array> {
  const res = await s3.client().send(new GetObjectCommand({ Bucket: c.bucket, Key: key }));
  return res.Body!.transformToByteArray();
}

describe('S3 audit storage end to end', () => {
  it('a publisher writes one blob per epoch to S3; a witness verifies every epoch through a reader', async () => {
    const dir = tempDir();
    const keys = writeKeys(dir);
    const auditS3 = await s3.bucket('directory-audit', 'kd/audit');
    const lines: Record<string, unknown>[] = [];
    const publisherConfig = {
      namespace: NS,
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: join(dir, 'data'),
      auditS3,
      vrfKeyFile: keys.vrfKeyFile,
      signingKeyFile: keys.signingKeyFile,
      epochIntervalMs: 100,
      maxBatchSize: 8,
      maxQueueDepth: 10_000,
      labelThreads: 1,
      serveReads: false,
    };
    // The first publisher "crashes" between committing its third epoch and storing its blob
    // (and stores none after that, as a dead process would not).
    let crashed = false;
    const first = await startPublisher(
      {
        ...publisherConfig,
        hooks: {
          afterCommit: (r) => {
            if (r.epoch >= 3) {
              crashed = true;
              throw new Error('simulated crash after commit');
            }
          },
        },
      },
      quietLog(lines),
    );
    const pubUrl1 = `http://127.0.0.1:${first.port}`;
    for (let i = 0; i < 24; i++) await postChange(pubUrl1, `user${i}`, `key-a-${i}`, `a-${i}`);
    await waitFor('the simulated crash', async () => (crashed ? true : undefined));
    await first.close();
    expect((await bucketKeys(auditS3)).filter((k) => k.startsWith('kd/audit/3/'))).toEqual([]);

    const second = await startPublisher(publisherConfig, quietLog(lines));
    running.push(second);
    const reader = await startReader(
      {
        namespace: NS,
        listen: { host: '127.0.0.1', port: 0 },
        dataDir: join(dir, 'data'),
        auditS3,
        vrfKeyFile: keys.vrfKeyFile,
        signingPublicKeyFile: keys.signingPublicKeyFile,
      },
      quietLog(lines),
    );
    running.push(reader);
    const readerUrl = `http://127.0.0.1:${reader.port}`;
    const pubUrl2 = `http://127.0.0.1:${second.port}`;
    for (let i = 0; i < 24; i++) await postChange(pubUrl2, `user${i}`, `key-b-${i}`, `b-${i}`);
    const latest = await waitFor('every change published', async () => {
      const r = await json<{ version: number; epoch: EpochHeadJson }>(
        `${readerUrl}/v1/lookup?username=user23`,
      );
      return r?.version === 2 ? r.epoch : undefined;
    });
    expect(latest.epoch).toBeGreaterThanOrEqual(6);

    // One blob per epoch, named EPOCH/hex(previous root)/hex(root) under the prefix, chained.
    const keysInBucket = await bucketKeys(auditS3);
    expect(keysInBucket).toHaveLength(latest.epoch);
    let previous: string | undefined;
    for (let e = 1; e <= latest.epoch; e++) {
      const head = (await json<EpochHeadJson>(`${readerUrl}/v1/epochs/${e}`))!;
      const named = keysInBucket.filter((k) => k.startsWith(`kd/audit/${e}/`));
      expect(named).toHaveLength(1);
      const [, , , prev, root] = named[0]!.split('/');
      expect(root).toBe(head.rootHash);
      if (previous !== undefined) expect(prev).toBe(previous);
      previous = root;
      // the reader serves the bucket's bytes under the same name
      const served = await fetch(`${readerUrl}/audit/${e}/${prev}/${root}`);
      expect(served.status).toBe(200);
      expect(new Uint8Array(await served.arrayBuffer())).toEqual(await objectBytes(auditS3, named[0]!));
    }
    expect(existsSync(join(dir, 'audit'))).toBe(false);

    const witness = await startWitness(
      {
        namespace: NS,
        listen: { host: '127.0.0.1', port: 0 },
        directoryUrl: readerUrl,
        publisherPublicKeyFile: keys.signingPublicKeyFile,
        witnessKeyFile: keys.witnessKeyFile,
        stateDir: join(dir, 'witness'),
        pollIntervalMs: 100,
      },
      quietLog(lines),
    );
    running.push(witness);
    const wUrl = `http://127.0.0.1:${witness.port}`;
    const ns = await waitFor('the witness to catch up', async () => {
      const r = await json<{ lastVerifiedEpoch: number; status: string }>(`${wUrl}/namespaces/${NS}`);
      return r && r.lastVerifiedEpoch >= latest.epoch ? r : undefined;
    });
    expect(ns.status).toBe('online');
    const wInfo = (await json<{ publicKey: string }>(`${wUrl}/info`))!;
    for (let e = 1; e <= latest.epoch; e++) {
      const audit = (await json<{ message: string; signature: string; digest: string }>(
        `${wUrl}/namespaces/${NS}/audits/${e}`,
      ))!;
      const msg = verifyCountersignature(
        Buffer.from(audit.message, 'base64url'),
        Buffer.from(audit.signature, 'base64url'),
        hexToBytes(wInfo.publicKey),
      );
      expect(msg.epoch).toBe(e);
    }
    expect(lines.filter((l) => l.event === 'witness.refused' || l.event === 'witness.error')).toEqual([]);
  }, 120_000);

  it('the directory-node binary takes --audit-s3-* and AWS_* credentials instead of --audit-dir', async () => {
    const dir = tempDir();
    const keys = writeKeys(dir);
    const auditS3 = await s3.bucket('directory-audit-cli');
    const args = [
      '--mode',
      'publisher',
      '--namespace',
      NS,
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--vrf-key-file',
      keys.vrfKeyFile,
      '--signing-key-file',
      keys.signingKeyFile,
      '--epoch-interval-ms',
      '100',
      '--label-threads',
      '1',
      '--audit-s3-endpoint',
      s3.endpoint,
      '--audit-s3-bucket',
      auditS3.bucket,
    ];
    const noCredentials = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    await expect(startChild(MAIN, args, noCredentials)).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    await expect(startChild(MAIN, args.slice(0, -4), noCredentials)).rejects.toThrow(/missing --audit-dir/);

    const pub = await startChild(MAIN, args, {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      KEYFLEET_AUDIT_S3_PREFIX: 'from-env',
    });
    children.push(pub);
    const url = `http://127.0.0.1:${pub.port}`;
    await postChange(url, 'alice', 'key-1', 'r-1');
    const head = await waitFor('epoch 1', () => json<EpochHeadJson>(`${url}/v1/epochs/1`));
    await waitFor('its blob in the bucket', async () =>
      (await bucketKeys(auditS3)).length > 0 ? true : undefined,
    );
    expect(await bucketKeys(auditS3)).toEqual([`from-env/1/${head.previousRootHash}/${head.rootHash}`]);
    const served = (await json<{ blobs: { name: string }[] }>(`${url}/v1/audit/1`))!;
    expect(served.blobs.map((b) => b.name)).toEqual([`1/${head.previousRootHash}/${head.rootHash}`]);
  }, 120_000);
});
