// Where a witness reads a directory from: signed epoch heads and audit blobs. The HTTP source
// reads a directory reader's API with bounded response sizes and timeouts.

import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import { hexToBytes } from '@noble/hashes/utils.js';

export type SignedHead = { readonly head: Uint8Array; readonly signature: Uint8Array };
export type AuditBlob = {
  readonly previousRootHash: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly proof: Uint8Array;
};

export interface DirectorySource {
  latest(): Promise<SignedHead | undefined>;
  head(epoch: number): Promise<SignedHead | undefined>;
  /** All blobs the audit storage holds for `epoch`. */
  auditBlobs(epoch: number): Promise<AuditBlob[]>;
}

/** Largest audit response accepted (a 100k-update epoch is ~10 MB of protobuf, base64 grows it). */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export class HttpDirectorySource implements DirectorySource {
  private readonly base: string;
  private readonly timeoutMs: number;
  constructor(base: string, timeoutMs = 30_000) {
    this.base = base.replace(/\/$/, '');
    this.timeoutMs = timeoutMs;
  }

  private async json<T>(path: string): Promise<T | undefined> {
    const res = await fetch(`${this.base}${path}`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_RESPONSE_BYTES) throw new Error(`GET ${path}: response too large`);
    const text = await res.text();
    if (text.length > MAX_RESPONSE_BYTES) throw new Error(`GET ${path}: response too large`);
    return JSON.parse(text) as T;
  }

  private static signed(h: EpochHeadJson | undefined): SignedHead | undefined {
    if (h === undefined) return undefined;
    if (typeof h.head !== 'string' || typeof h.signature !== 'string')
      throw new Error('malformed epoch head response');
    return { head: Buffer.from(h.head, 'base64url'), signature: Buffer.from(h.signature, 'base64url') };
  }

  async latest(): Promise<SignedHead | undefined> {
    return HttpDirectorySource.signed(await this.json<EpochHeadJson>('/v1/epochs/latest'));
  }

  async head(epoch: number): Promise<SignedHead | undefined> {
    return HttpDirectorySource.signed(await this.json<EpochHeadJson>(`/v1/epochs/${epoch}`));
  }

  async auditBlobs(epoch: number): Promise<AuditBlob[]> {
    const res = await this.json<{ blobs?: { previousRootHash: string; rootHash: string; proof: string }[] }>(
      `/v1/audit/${epoch}`,
    );
    if (res === undefined) return [];
    if (!Array.isArray(res.blobs)) throw new Error('malformed audit response');
    return res.blobs.map((x) => {
      const previousRootHash = hexToBytes(x.previousRootHash);
      const rootHash = hexToBytes(x.rootHash);
      if (previousRootHash.length !== 32 || rootHash.length !== 32)
        throw new Error('malformed audit blob name');
      return { previousRootHash, rootHash, proof: Buffer.from(x.proof, 'base64url') };
    });
  }
}
