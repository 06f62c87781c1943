// S3AuditStorage against a real S3-compatible server (moto) on loopback.
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

  it('normalises prefixes', () => {
    expect(normalisePrefix('')).toBe('');
    expect(normalisePrefix('/a/b')).toBe('a/b/');
    expect(normalisePrefix('a/')).toBe('a/');
    expect(() => normalisePrefix('a\nb')).toThrow();
    expect(() => normalisePrefix('x'.repeat(600))).toThrow();
  });
});
