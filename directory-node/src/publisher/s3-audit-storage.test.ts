// S3AuditStorage against a real S3-compatible server (moto) on loopback.
import { createServer, request, type Server } from 'node:http';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditBlobConflictError,
  AuditBlobIntegrityError,
  normalisePrefix,
  S3AuditStorage,
} from './s3-audit-storage.ts';
import { startS3Server, type TestS3Server } from './s3-test-server.ts';

let s3: TestS3Server;
let buckets = 0;
const opened: S3AuditStorage[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
}, 90_000);
afterAll(async () => {
  for (const o of opened) o.close();
  await s3?.stop();
});

async function fresh(
  prefix = '',
): Promise<{ storage: S3AuditStorage; bucket: string; again(): S3AuditStorage }> {
  const config = await s3.bucket(`audit-test-${++buckets}`, prefix);
  const open = () => {
    const st = new S3AuditStorage(config);
    opened.push(st);
    return st;
  };
  return { storage: open(), bucket: config.bucket, again: open };
}

/**
 * A loopback proxy in front of moto that answers conditional PUTs with 501 NotImplemented, as
 * S3-compatible servers without conditional writes do. Counts the PUTs it refused.
 */
async function withoutConditionalWrites(
  target: string,
): Promise<{ endpoint: string; refused(): number; close(): Promise<void> }> {
  const to = new URL(target);
  let refused = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === 'PUT' && req.headers['if-none-match'] !== undefined) {
      refused++;
      req.resume();
      res.writeHead(501, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>If-None-Match</Message></Error>',
      );
      return;
    }
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused: () => refused,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const transition = () => ({ prev: randomBytes(32), root: randomBytes(32), blob: randomBytes(3000) });

async function keys(bucket: string): Promise<string[]> {
  const res = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (res.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('S3AuditStorage', () => {
  it('stores a blob under EPOCH/hex(prev)/hex(root) and reads it back', async () => {
    const { storage, bucket } = await fresh();
    const t = transition();
    await storage.put(7, t.prev, t.root, t.blob);
    const ref = { epoch: 7, previousRootHash: bytesToHex(t.prev), rootHash: bytesToHex(t.root) };
    expect(await keys(bucket)).toEqual([`7/${ref.previousRootHash}/${ref.rootHash}`]);
    expect(await storage.list(7)).toEqual([ref]);
    expect(await storage.list(8)).toEqual([]);
    expect(await storage.list(70)).toEqual([]);
    expect(await storage.get(ref)).toEqual(t.blob);
    expect(await storage.get({ ...ref, rootHash: bytesToHex(randomBytes(32)) })).toBeUndefined();
    expect(await storage.get({ ...ref, rootHash: '../x' })).toBeUndefined();
  });

  it('keeps blobs under the configured prefix and ignores foreign keys there', async () => {
    const { storage, bucket } = await fresh('/dir/audit');
    const t = transition();
    await storage.put(1, t.prev, t.root, t.blob);
    await s3.client().send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/audit/1/README', Body: 'x' }));
    await s3.client().send(new PutObjectCommand({ Bucket: bucket, Key: '1/elsewhere', Body: 'x' }));
    expect(await keys(bucket)).toEqual(
      ['1/elsewhere', 'dir/audit/1/README', `dir/audit/1/${bytesToHex(t.prev)}/${bytesToHex(t.root)}`].sort(),
    );
    expect(await storage.list(1)).toEqual([
      { epoch: 1, previousRootHash: bytesToHex(t.prev), rootHash: bytesToHex(t.root) },
    ]);
  });

  it('treats a retried put of the same blob as done, from the same or a restarted publisher', async () => {
    const { storage, bucket, again } = await fresh('p');
    const t = transition();
    await storage.put(3, t.prev, t.root, t.blob);
    await storage.put(3, t.prev, t.root, t.blob);
    await again().put(3, t.prev, t.root, Uint8Array.from(t.blob));
    expect(await keys(bucket)).toHaveLength(1);
    expect(await storage.get((await storage.list(3))[0]!)).toEqual(t.blob);
  });

  it('refuses different bytes under an existing name and keeps the original', async () => {
    const { storage } = await fresh();
    const t = transition();
    await storage.put(2, t.prev, t.root, t.blob);
    const other = Uint8Array.from(t.blob);
    other[100]! ^= 1;
    await expect(storage.put(2, t.prev, t.root, other)).rejects.toThrow(AuditBlobConflictError);
    await expect(storage.put(2, t.prev, t.root, t.blob.subarray(1))).rejects.toThrow(/different audit blob/);
    const [ref] = await storage.list(2);
    expect(await storage.get(ref!)).toEqual(t.blob);
  });

  it('refuses a second root for an epoch (a fork) and names the blob already there', async () => {
    const { storage, bucket } = await fresh();
    const t = transition();
    await storage.put(5, t.prev, t.root, t.blob);
    const fork = transition();
    await expect(storage.put(5, t.prev, fork.root, fork.blob)).rejects.toThrow(
      new RegExp(`epoch 5 already has audit blob 5/${bytesToHex(t.prev)}/${bytesToHex(t.root)}`),
    );
    await expect(storage.put(5, fork.prev, fork.root, fork.blob)).rejects.toThrow(AuditBlobConflictError);
    expect(await keys(bucket)).toEqual([`5/${bytesToHex(t.prev)}/${bytesToHex(t.root)}`]);
  });

  it('lets exactly one of two racing writers of one name win (conditional write), the other is refused', async () => {
    const { storage, again } = await fresh();
    const t = transition();
    const other = randomBytes(3000);
    const results = await Promise.allSettled([
      storage.put(9, t.prev, t.root, t.blob),
      again().put(9, t.prev, t.root, other),
    ]);
    const won = results.findIndex((r) => r.status === 'fulfilled');
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = results[1 - won] as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(AuditBlobConflictError);
    const [ref] = await storage.list(9);
    expect(await storage.get(ref!)).toEqual(won === 0 ? t.blob : other);
  });

  it('does not replace a blob stored between its check and its write (If-None-Match)', async () => {
    const { storage, again } = await fresh();
    const t = transition();
    const late = again();
    // `late` checked the epoch before `storage` wrote it: its first look finds nothing.
    const list = late.list.bind(late);
    let looked = false;
    late.list = async (epoch) => {
      if (looked) return list(epoch);
      looked = true;
      return [];
    };
    await storage.put(8, t.prev, t.root, t.blob);
    await expect(late.put(8, t.prev, t.root, randomBytes(3000))).rejects.toThrow(AuditBlobConflictError);
    expect(looked).toBe(true);
    expect(await storage.get((await storage.list(8))[0]!)).toEqual(t.blob);
  });

  it('reports a fork when two writers race with different roots for one epoch', async () => {
    const { storage, again } = await fresh();
    const a = transition();
    const b = transition();
    const results = await Promise.allSettled([
      storage.put(4, a.prev, a.root, a.blob),
      again().put(4, b.prev, b.root, b.blob),
    ]);
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r.reason).toBeInstanceOf(AuditBlobConflictError);
  });

  it('refuses to serve an object whose bytes no longer match the SHA-256 it was stored with', async () => {
    const { storage, bucket } = await fresh();
    const t = transition();
    await storage.put(6, t.prev, t.root, t.blob);
    const [ref] = await storage.list(6);
    const key = `6/${ref!.previousRootHash}/${ref!.rootHash}`;
    const original = await s3.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const tampered = Uint8Array.from(t.blob);
    tampered[0]! ^= 0x80;
    await s3
      .client()
      .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: tampered, Metadata: original.Metadata }));
    await expect(storage.get(ref!)).rejects.toThrow(AuditBlobIntegrityError);
    // and a publisher retry of the genuine blob does not paper over the damage
    await expect(storage.put(6, t.prev, t.root, t.blob)).rejects.toThrow(AuditBlobIntegrityError);
  });

  it('without conditional writes on the server, falls back to plain writes and still refuses a different blob', async () => {
    const config = await s3.bucket(`audit-test-${++buckets}`);
    const proxy = await withoutConditionalWrites(s3.endpoint);
    try {
      const storage = new S3AuditStorage({ ...config, endpoint: proxy.endpoint });
      opened.push(storage);
      const t = transition();
      await storage.put(1, t.prev, t.root, t.blob);
      expect(proxy.refused()).toBe(1);
      const u = transition();
      await storage.put(2, t.root, u.root, u.blob);
      expect(proxy.refused()).toBe(1); // the server's answer is remembered
      await storage.put(2, t.root, u.root, u.blob);
      await expect(storage.put(2, t.root, u.root, t.blob)).rejects.toThrow(AuditBlobConflictError);
      expect(await keys(config.bucket)).toHaveLength(2);
      expect(await storage.get((await storage.list(2))[0]!)).toEqual(u.blob);
    } finally {
      await proxy.close();
    }
  });

  it('normalises prefixes', () => {
    expect(normalisePrefix('')).toBe('');
    expect(normalisePrefix('/a/b')).toBe('a/b/');
    expect(normalisePrefix('a/')).toBe('a/');
    expect(() => normalisePrefix('a\nb')).toThrow();
    expect(() => normalisePrefix('x'.repeat(600))).toThrow();
  });
});
