// Audit storage: one blob per epoch transition, named as akd names them,
// `EPOCH/hex(previous root)/hex(root)` (EPOCH = the epoch whose root is the last part, as the
// WhatsApp auditor reads it). The filesystem backend is the default; blobs are written
// atomically (temporary file, fsync, rename) and never overwritten.
import { mkdir, open, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';

export type AuditBlobRef = {
  readonly epoch: number;
  readonly previousRootHash: string;
  readonly rootHash: string;
};

export function auditBlobName(ref: AuditBlobRef): string {
  return `${ref.epoch}/${ref.previousRootHash}/${ref.rootHash}`;
}

export interface AuditStorage {
  put(epoch: number, previousRootHash: Uint8Array, rootHash: Uint8Array, blob: Uint8Array): Promise<void>;
  /** Every blob stored for `epoch` (more than one means the publisher forked). */
  list(epoch: number): Promise<AuditBlobRef[]>;
  get(ref: AuditBlobRef): Promise<Uint8Array | undefined>;
}

const HEX64 = /^[0-9a-f]{64}$/;

export class FilesystemAuditStorage implements AuditStorage {
  private readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  private path(ref: AuditBlobRef): string {
    return join(this.root, String(ref.epoch), ref.previousRootHash, ref.rootHash);
  }

  async put(
    epoch: number,
    previousRootHash: Uint8Array,
    rootHash: Uint8Array,
    blob: Uint8Array,
  ): Promise<void> {
    const ref = { epoch, previousRootHash: bytesToHex(previousRootHash), rootHash: bytesToHex(rootHash) };
    const target = this.path(ref);
    const exists = await stat(target).then(
      () => true,
      () => false,
    );
    if (exists) return;
    const dir = join(this.root, String(epoch), ref.previousRootHash);
    await mkdir(dir, { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(blob);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    const dh = await open(dir, 'r');
    await dh.sync().finally(() => dh.close());
  }

  async list(epoch: number): Promise<AuditBlobRef[]> {
    const out: AuditBlobRef[] = [];
    const epochDir = join(this.root, String(epoch));
    const prevs = await readdir(epochDir).catch(() => [] as string[]);
    for (const prev of prevs.filter((p) => HEX64.test(p))) {
      const curs = await readdir(join(epochDir, prev)).catch(() => [] as string[]);
      for (const cur of curs.filter((c) => HEX64.test(c)))
        out.push({ epoch, previousRootHash: prev, rootHash: cur });
    }
    return out;
  }

  async get(ref: AuditBlobRef): Promise<Uint8Array | undefined> {
    if (!HEX64.test(ref.previousRootHash) || !HEX64.test(ref.rootHash)) return undefined;
    return readFile(this.path(ref)).then(
      (b) => new Uint8Array(b),
      () => undefined,
    );
  }
}
