// GET /v1/attestation on the client port: the fleet's validation bundle (sdk/src/attestation/
// FORMAT.md), byte for byte as the operator published it, so clients can check it before they
// trust this fleet. The operator mounts the ConfigMap `<fleet>-attestation` as a file; the kubelet
// rewrites it while the pod runs (a new directory behind a swapped symlink, or the file rewritten in
// place). So the file is re-read when its identity, size or times change, and only a file that is
// within the size limit and decodes as a bundle replaces the one served: a half-written, truncated
// or corrupt file is never served, the last good bundle is. The member cannot verify signatures (it
// holds no operator keys, and need not): clients verify; this only keeps garbage off the wire.
import type { BigIntStats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { decodeBundle, MAX_BUNDLE_BYTES } from '@keyfleet/sdk/attestation/bundle';
import { envelopeDigest, formatDigest } from '@keyfleet/sdk/attestation/dsse';
import { AttestationError } from '@keyfleet/sdk/attestation/errors';
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Logger } from '../raft/node/logger.ts';
import { newApp, sendError } from './http.ts';
import { SourceRateLimiter } from './rate-limit.ts';

export interface PublishedBundle {
  readonly bytes: Uint8Array;
  /** Strong ETag: the SHA-256 of the bytes. */
  readonly etag: string;
  /** `sha256:<hex>` of the operator envelope (what the directory logs), for logs. */
  readonly envelopeDigest: string;
}

export interface BundleFileOptions {
  readonly maxBytes?: number;
  /** Stat the file at most this often (a request flood costs no more than one stat per period). */
  readonly recheckMs?: number;
  /** Read an unchanged-looking file again after this long (same-size rewrites within a tick). */
  readonly rereadMs?: number;
  readonly now?: () => number;
  readonly log?: Logger;
}

/** One look at the file: unchanged since last read, or what it holds (and whether it held still). */
type ReadOutcome =
  | 'unchanged'
  | ({ version: string; stable: boolean } & ({ bundle: PublishedBundle } | { problem: string }));

/** What identifies a version of the file: a rewrite in place or a symlink swap changes it. */
function versionOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** The bundle file the operator publishes, re-read on change; `current()` is the last good one. */
export class BundleFile {
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #recheckMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #good: PublishedBundle | null = null;
  /** The version last read (good or not): an unchanged file is not read again. */
  #seen: string | null = null;
  /** The I/O problem last logged, so a lasting one is logged once. */
  #problem: string | null = null;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #readAt = Number.NEGATIVE_INFINITY;
  readonly #rereadMs: number;
  #refreshing: Promise<void> | null = null;

  constructor(file: string, o: BundleFileOptions = {}) {
    this.#file = file;
    this.#maxBytes = o.maxBytes ?? MAX_BUNDLE_BYTES;
    this.#recheckMs = o.recheckMs ?? 1000;
    this.#rereadMs = o.rereadMs ?? 30_000;
    this.#now = o.now ?? (() => performance.now());
    this.#log = o.log ?? (() => {});
  }

  /** The bundle to serve, or null when no good one was ever read. */
  async current(): Promise<PublishedBundle | null> {
    if (this.#now() - this.#checkedAt >= this.#recheckMs) {
      // Concurrent requests share one refresh.
      this.#refreshing ??= this.#refresh().finally(() => {
        this.#refreshing = null;
      });
      await this.#refreshing;
    }
    return this.#good;
  }

  async #refresh(): Promise<void> {
    this.#checkedAt = this.#now();
    let read: ReadOutcome;
    try {
      read = await this.#read();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const problem = code === 'ENOENT' ? 'missing' : e instanceof Error ? e.message : String(e);
      // Logged once per problem, not once per request.
      if (this.#good && this.#problem !== problem)
        this.#log('warn', 'cannot read the attestation bundle file; serving the last good bundle', {
          file: this.#file,
          problem,
        });
      this.#problem = problem;
      this.#seen = null;
      return;
    }
    this.#problem = null;
    if (read === 'unchanged') return;
    // A file that changed while we read it may be half written, whatever it decoded to: it is
    // neither served nor remembered, and read again next time.
    if (!read.stable) {
      this.#seen = null;
      return;
    }
    this.#seen = read.version;
    if ('problem' in read) {
      this.#log('warn', 'not serving the attestation bundle file', {
        file: this.#file,
        reason: read.problem,
        serving: this.#good?.envelopeDigest ?? null,
      });
      return;
    }
    if (this.#good?.etag === read.bundle.etag) return;
    this.#good = read.bundle;
    this.#log('info', 'serving attestation bundle', {
      envelopeDigest: read.bundle.envelopeDigest,
      bytes: read.bundle.bytes.length,
    });
  }

  /** Reads at most maxBytes + 1 bytes of the file and decodes them. */
  async #read(): Promise<ReadOutcome> {
    // stat() follows the ConfigMap's symlinks: a swapped `..data` is a new inode. File times are
    // as coarse as the kernel's tick, so a same-size rewrite within one tick looks unchanged: the
    // file is read again anyway once the last read is old enough.
    const unchanged = versionOf(await stat(this.#file, { bigint: true })) === this.#seen;
    if (unchanged && this.#now() - this.#readAt < this.#rereadMs) return 'unchanged';
    this.#readAt = this.#now();
    const handle = await open(this.#file, 'r');
    try {
      const before = await handle.stat({ bigint: true });
      if (!before.isFile()) throw new Error('not a regular file');
      const version = versionOf(before);
      const size = Number(before.size);
      const buffer = Buffer.alloc(Math.min(size, this.#maxBytes) + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      // Complete: all of it, or (for a file over the limit) all we would ever read of it.
      const complete = length === size || (size > this.#maxBytes && length > this.#maxBytes);
      const stable = complete && versionOf(await handle.stat({ bigint: true })) === version;
      if (length > this.#maxBytes) return { version, stable, problem: `larger than ${this.#maxBytes} bytes` };
      const bytes = new Uint8Array(buffer.subarray(0, length));
      try {
        const bundle = decodeBundle(bytes);
        return {
          version,
          stable,
          bundle: {
            bytes,
            etag: `"${bytesToHex(sha256(bytes))}"`,
            envelopeDigest: formatDigest(envelopeDigest(bundle.envelope)),
          },
        };
      } catch (e) {
        if (!(e instanceof AttestationError)) throw e;
        return { version, stable, problem: `does not decode as a validation bundle: ${e.message}` };
      }
    } finally {
      await handle.close();
    }
  }
}

/** The routes of GET /v1/attestation; mounted in front of the escrow API on the client port. */
export function attestationApi(
  bundle: BundleFile | null,
  o: { rateLimiter?: SourceRateLimiter; log?: Logger } = {},
) {
  const app = newApp();
  const limiter = o.rateLimiter ?? new SourceRateLimiter({ ratePerSecond: 20, burst: 40 });
  app.get(HttpPath.attestation, async (req, res) => {
    if (!limiter.take(req.socket.remoteAddress ?? 'unknown'))
      return sendError(res, 429, 'rate-limited', 'too many requests from this source; slow down');
    let published: PublishedBundle | null;
    try {
      published = bundle ? await bundle.current() : null;
    } catch (e) {
      o.log?.('error', 'reading the attestation bundle file failed', {
        error: e instanceof Error ? e.message : String(e),
      });
      return sendError(res, 500, 'internal', 'the attestation bundle could not be read');
    }
    if (!published) return sendError(res, 404, 'no-attestation', 'no attestation published yet');
    res.set({ etag: published.etag, 'cache-control': 'no-cache' });
    if (req.get('if-none-match') === published.etag) return void res.status(304).end();
    res.status(200).type('application/json').send(Buffer.from(published.bytes));
  });
  return app;
}
