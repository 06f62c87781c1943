// Which audit storage a publisher or reader uses: S3-compatible object storage when a bucket is
// configured (--audit-s3-*; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which
// the operator fills from the Secret named in spec.auditStorage.s3.secretRef), otherwise the
// filesystem directory --audit-dir.
import { mkdirSync } from 'node:fs';
import { type AuditStorage, FilesystemAuditStorage } from './audit-storage.ts';
import { type S3AuditConfig, S3AuditStorage } from './s3-audit-storage.ts';

export type S3AuditOptions = {
  readonly endpoint?: string;
  readonly region?: string;
  readonly bucket?: string;
  readonly prefix?: string;
};

/** S3 settings from the --audit-s3-* options and the environment; undefined without a bucket. */
export function s3AuditConfig(o: S3AuditOptions, env: NodeJS.ProcessEnv): S3AuditConfig | undefined {
  if (o.bucket === undefined) {
    if (o.endpoint !== undefined || o.prefix !== undefined)
      throw new Error('--audit-s3-endpoint/--audit-s3-prefix need --audit-s3-bucket');
    return undefined;
  }
  // Bucket names as S3 allows them (3-63 lower-case letters, digits, dots, dashes).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket))
    throw new Error('--audit-s3-bucket is not a bucket name');
  if (o.endpoint !== undefined) {
    const u = URL.parse(o.endpoint);
    if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:'))
      throw new Error('--audit-s3-endpoint must be an http(s) URL');
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error('S3 audit storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment');
  return {
    endpoint: o.endpoint,
    region: o.region ?? env.AWS_REGION ?? 'us-east-1',
    bucket: o.bucket,
    prefix: o.prefix ?? '',
    accessKeyId,
    secretAccessKey,
    sessionToken: env.AWS_SESSION_TOKEN || undefined,
  };
}

export type OpenedAuditStorage = AuditStorage & { close?(): void };

/** `createDir`: the publisher makes the audit directory; a reader may have it mounted read-only. */
export function openAuditStorage(
  c: { auditDir?: string; auditS3?: S3AuditConfig },
  createDir: boolean,
): OpenedAuditStorage {
  if (c.auditS3) return new S3AuditStorage(c.auditS3);
  if (c.auditDir === undefined) throw new Error('audit storage: give --audit-dir or --audit-s3-bucket');
  if (createDir) mkdirSync(c.auditDir, { recursive: true });
  return new FilesystemAuditStorage(c.auditDir);
}
