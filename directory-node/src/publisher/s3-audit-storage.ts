// Audit storage in an S3-compatible bucket, under the same names as the filesystem backend
// (`PREFIX EPOCH/hex(previous root)/hex(root)`), so an auditor that lists the bucket reads it as
// it reads akd's. One blob per epoch, never replaced:
//   - before writing, every blob already stored for the epoch is looked at: the same bytes under
//     the same name make the put a no-op (a publisher retrying after a crash), anything else is
//     refused with AuditBlobConflictError (a second root for an epoch is a fork);
//   - the write is conditional (If-None-Match: *), so two writers racing on one name cannot
//     replace each other's blob on servers that implement it; servers that do not are told
//     apart by their answer and written unconditionally, the read-back below still holds;
//   - the body carries Content-MD5 (the server refuses a body damaged in transit) and its
//     SHA-256 as object metadata, checked again on every read;
//   - after the write the object is read back and compared, and the epoch listed again: a
//     second blob that appeared meanwhile is reported as a fork.
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { equalBytes } from '@noble/curves/utils.js';
import { md5 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { type AuditBlobRef, type AuditStorage, auditBlobName } from './audit-storage.ts';

export type S3AuditConfig = {
  /** e.g. http://127.0.0.1:9000; absent means AWS itself. With an endpoint, path-style URLs. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** key prefix, with or without the trailing slash ('' for the bucket root) */
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
};

/** Largest audit blob read back (a 100k-update epoch is ~10 MB; the witness accepts 256 MB). */
export const MAX_AUDIT_BLOB_BYTES = 192 * 1024 * 1024;
/** Most keys looked at under one epoch (one is normal; more than a few means a fork already). */
const MAX_KEYS_PER_EPOCH = 1000;
const SHA256_METADATA = 'keyfleet-sha256';
const HEX64 = /^[0-9a-f]{64}$/;

/** A put that would give an epoch a second, different audit blob. */
export class AuditBlobConflictError extends Error {
  override readonly name = 'AuditBlobConflictError';
}

/** An object whose bytes do not match the SHA-256 it was stored with. */
export class AuditBlobIntegrityError extends Error {
  override readonly name = 'AuditBlobIntegrityError';
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function s3Status(e: unknown): { status?: number; code?: string } {
  if (e instanceof S3ServiceException) return { status: e.$metadata.httpStatusCode, code: e.name };
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return { status: x?.$metadata?.httpStatusCode, code: x?.name };
}

export function normalisePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  // AWS's "safe characters" for object keys, so the names read the same on every S3 server.
  if (p.length > 512 || !/^[A-Za-z0-9!_.*'()/-]*$/.test(p))
    throw new Error("S3 audit prefix must be at most 512 of A-Z a-z 0-9 ! _ . * ' ( ) / -");
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

export class S3AuditStorage implements AuditStorage {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  /** undefined until the server has answered a conditional write one way or the other */
  private conditionalWrites: boolean | undefined;

  constructor(c: S3AuditConfig) {
    this.bucket = c.bucket;
    this.prefix = normalisePrefix(c.prefix);
    this.client = new S3Client({
      region: c.region,
      endpoint: c.endpoint,
      forcePathStyle: c.endpoint !== undefined,
      // Explicit credentials: the SDK's default chain would also try instance metadata endpoints.
      credentials: {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
      },
      // Content-MD5 (below) is understood by every S3-compatible server; the SDK's default
      // CRC32 trailers are not.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    });
  }

  private key(ref: AuditBlobRef): string {
    return `${this.prefix}${auditBlobName(ref)}`;
  }

  async put(
    epoch: number,
    previousRootHash: Uint8Array,
    rootHash: Uint8Array,
    blob: Uint8Array,
  ): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`bad epoch ${epoch}`);
    if (blob.length > MAX_AUDIT_BLOB_BYTES)
      throw new RangeError(`audit blob of ${blob.length} bytes is too large`);
    const ref = { epoch, previousRootHash: bytesToHex(previousRootHash), rootHash: bytesToHex(rootHash) };
    if (await this.alreadyStored(ref, blob)) return;
    await this.write(ref, blob);
    if (!(await this.alreadyStored(ref, blob)))
      throw new Error(`audit blob ${auditBlobName(ref)} is missing right after it was written`);
  }

  /**
   * Whether exactly these bytes are stored under this name and the epoch has no other blob;
   * throws AuditBlobConflictError when the epoch holds anything else.
   */
  private async alreadyStored(ref: AuditBlobRef, blob: Uint8Array): Promise<boolean> {
    const name = auditBlobName(ref);
    const stored = await this.list(ref.epoch);
    const others = stored.map(auditBlobName).filter((n) => n !== name);
    if (others.length > 0)
      throw new AuditBlobConflictError(
        `epoch ${ref.epoch} already has audit blob ${others.join(', ')} in s3://${this.bucket}/${this.prefix}; ` +
          `refusing ${name} (a second root for one epoch is a fork)`,
      );
    if (stored.length === 0) return false;
    const existing = await this.get(ref);
    if (existing === undefined) return false;
    if (!equalBytes(existing, blob))
      throw new AuditBlobConflictError(
        `s3://${this.bucket}/${this.key(ref)} holds a different audit blob (${existing.length} bytes, ` +
          `sha256 ${bytesToHex(sha256(existing))}); refusing to replace it with ${blob.length} bytes, ` +
          `sha256 ${bytesToHex(sha256(blob))}`,
      );
    return true;
  }

  private async write(ref: AuditBlobRef, blob: Uint8Array): Promise<void> {
    const send = (conditional: boolean) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(ref),
          Body: blob,
          ContentLength: blob.length,
          ContentMD5: b64(md5(blob)),
          ContentType: 'application/octet-stream',
          Metadata: { [SHA256_METADATA]: bytesToHex(sha256(blob)) },
          IfNoneMatch: conditional ? '*' : undefined,
        }),
      );
    if (this.conditionalWrites === false) {
      await send(false);
      return;
    }
    try {
      await send(true);
      this.conditionalWrites = true;
    } catch (e) {
      const { status, code } = s3Status(e);
      // 412: someone stored this name first; 409: a concurrent conditional write. Either way
      // the read-back in put() decides whether it holds our bytes.
      if (status === 412 || status === 409 || code === 'PreconditionFailed') return;
      // A server that does not implement conditional writes says so with 501.
      if (status === 501 || code === 'NotImplemented') {
        this.conditionalWrites = false;
        await send(false);
        return;
      }
      throw e;
    }
  }

  async list(epoch: number): Promise<AuditBlobRef[]> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) return [];
    const under = `${this.prefix}${epoch}/`;
    const out: AuditBlobRef[] = [];
    let token: string | undefined;
    let seen = 0;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: under, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        if (++seen > MAX_KEYS_PER_EPOCH)
          throw new Error(`more than ${MAX_KEYS_PER_EPOCH} objects under s3://${this.bucket}/${under}`);
        const [previousRootHash, rootHash, extra] = (o.Key ?? '').slice(under.length).split('/');
        if (extra === undefined && HEX64.test(previousRootHash ?? '') && HEX64.test(rootHash ?? ''))
          out.push({ epoch, previousRootHash: previousRootHash!, rootHash: rootHash! });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async get(ref: AuditBlobRef): Promise<Uint8Array | undefined> {
    if (!HEX64.test(ref.previousRootHash) || !HEX64.test(ref.rootHash)) return undefined;
    if (!Number.isSafeInteger(ref.epoch) || ref.epoch < 0) return undefined;
    const key = this.key(ref);
    let res: GetObjectCommandOutput;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (e) {
      const { status, code } = s3Status(e);
      if (status === 404 || code === 'NoSuchKey') return undefined;
      throw e;
    }
    if (res.Body === undefined) throw new Error(`s3://${this.bucket}/${key}: empty response`);
    if (res.ContentLength === undefined || res.ContentLength > MAX_AUDIT_BLOB_BYTES) {
      (res.Body as { destroy?: () => void }).destroy?.();
      throw new Error(`s3://${this.bucket}/${key}: size ${res.ContentLength ?? 'unknown'} is not accepted`);
    }
    const data = await res.Body.transformToByteArray();
    if (data.length !== res.ContentLength)
      throw new AuditBlobIntegrityError(
        `s3://${this.bucket}/${key}: truncated (${data.length} of ${res.ContentLength})`,
      );
    const want = res.Metadata?.[SHA256_METADATA];
    if (want !== undefined && want !== bytesToHex(sha256(data)))
      throw new AuditBlobIntegrityError(
        `s3://${this.bucket}/${key}: content does not match its stored SHA-256`,
      );
    return data;
  }

  close(): void {
    this.client.destroy();
  }
}
