// A directory in a temporary SQLite file for tests: enqueue changes, publish epochs, read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { signingKeys, type VrfKeys, vrfKeys } from '../keys.ts';
import { buildEpoch, type DirectoryContext } from '../publisher/epoch-builder.ts';
import { InlineLabelDeriver } from '../publisher/labels.ts';
import { SqliteStorage } from '../storage/sqlite.ts';
import type { EpochRecord } from '../storage/types.ts';
import { whatsappV1Hasher } from '../tree/hasher.ts';

export class DirectoryHarness {
  readonly dir: string;
  readonly storage: SqliteStorage;
  readonly ctx: DirectoryContext;
  private requests = 0;
  clock = 1_700_000_000_000;

  constructor(
    vrfSecret: Uint8Array,
    namespace = 'test',
    signingSecret: Uint8Array = ed25519.utils.randomSecretKey(),
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'kf-dir-'));
    this.storage = new SqliteStorage(join(this.dir, 'directory.db'));
    const vrf: VrfKeys = vrfKeys(vrfSecret);
    this.ctx = {
      namespace,
      hasher: whatsappV1Hasher,
      vrf,
      signing: signingKeys(signingSecret),
      labels: new InlineLabelDeriver(vrf.expanded),
      now: () => this.clock++,
    };
  }

  get dbPath(): string {
    return join(this.dir, 'directory.db');
  }

  /** Queues `updates` and publishes them as one epoch. */
  async publish(updates: readonly (readonly [string, string])[]): Promise<EpochRecord | undefined> {
    const enc = new TextEncoder();
    for (const [user, value] of updates) {
      await this.storage.enqueue(
        { requestId: `r${this.requests++}`, username: enc.encode(user), value: enc.encode(value) },
        1e9,
      );
    }
    const built = await buildEpoch(this.storage, this.ctx, await this.storage.pending(1e9));
    if (built.commit === undefined) {
      await this.storage.dropQueued(built.noOps);
      return undefined;
    }
    await this.storage.commitEpoch(built.commit);
    return built.commit.record;
  }

  close(): void {
    this.storage.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
