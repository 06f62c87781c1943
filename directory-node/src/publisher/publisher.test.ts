import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryHarness } from '../testing/directory-harness.ts';
import { FilesystemAuditStorage } from './audit-storage.ts';
import { Publisher } from './publisher.ts';
import { FileWriterLock } from './writer-lock.ts';

const enc = new TextEncoder();
let h: DirectoryHarness;
let audit: FilesystemAuditStorage;
let publisher: Publisher;
beforeEach(async () => {
  h = new DirectoryHarness(new Uint8Array(32).fill(8));
  audit = new FilesystemAuditStorage(join(h.dir, 'audit'));
  publisher = new Publisher(h.storage, h.ctx, audit, new FileWriterLock(join(h.dir, 'lock')), {
    maxBatchSize: 3,
    epochIntervalMs: 1000,
  });
  await publisher.init();
});
afterEach(async () => {
  await publisher.stop();
  h.close();
});

const queue = (user: string, value: string, id: string) =>
  h.storage.enqueue({ requestId: id, username: enc.encode(user), value: enc.encode(value) }, 100);

describe('Publisher', () => {
  it('cuts epochs of at most maxBatchSize changes, one change per username per epoch', async () => {
    await queue('a', '1', 'r1');
    await queue('a', '2', 'r2');
    await queue('b', '1', 'r3');
    await queue('c', '1', 'r4');
    const e1 = await publisher.publishOnce();
    expect(e1).toMatchObject({ epoch: 1, updates: 2 }); // a=1, b=1; a=2 waits, c is past the batch
    expect((await h.storage.pending(10)).map((c) => c.requestId)).toEqual(['r2', 'r4']);
    const e2 = await publisher.publishOnce();
    expect(e2).toMatchObject({ epoch: 2, updates: 2 });
    const states = await h.storage.read((s) => s.valueStates(enc.encode('a'), 10));
    expect(states.map((v) => [v.version, v.epoch])).toEqual([
      [2, 2],
      [1, 1],
    ]);
    expect(await audit.list(1)).toHaveLength(1);
    expect(await audit.list(2)).toHaveLength(1);
  });

  it('publishes a backlog with speculated labels exactly as batch by batch', async () => {
    // The same changes, queued all at once (the next batch's labels are derived ahead, users
    // repeated across batches included) and one batch at a time, give the same epochs.
    const changes: [string, string][] = [];
    for (let i = 0; i < 12; i++) changes.push([`u${i % 5}`, `v${i}`]);
    for (const [i, [u, v]] of changes.entries()) await queue(u, v, `r${i}`);
    const backlog: string[] = [];
    for (let r = await publisher.publishOnce(); r !== undefined; r = await publisher.publishOnce())
      backlog.push(Buffer.from(r.rootHash).toString('hex'));

    const h2 = new DirectoryHarness(new Uint8Array(32).fill(8));
    const p2 = new Publisher(
      h2.storage,
      h2.ctx,
      new FilesystemAuditStorage(join(h2.dir, 'audit')),
      new FileWriterLock(join(h2.dir, 'lock')),
      { maxBatchSize: 3, epochIntervalMs: 1000 },
    );
    await p2.init();
    try {
      const oneByOne: string[] = [];
      let next = 0;
      for (;;) {
        while ((await h2.storage.queueDepth()) < 3 && next < changes.length) {
          const [u, v] = changes[next]!;
          await h2.storage.enqueue(
            { requestId: `r${next++}`, username: enc.encode(u), value: enc.encode(v) },
            100,
          );
        }
        const r = await p2.publishOnce();
        if (r === undefined) break;
        oneByOne.push(Buffer.from(r.rootHash).toString('hex'));
      }
      expect(backlog.length).toBeGreaterThan(3);
      expect(backlog).toEqual(oneByOne);
    } finally {
      await p2.stop();
      h2.close();
    }
  });

  it('drops a change equal to the current value without cutting an epoch', async () => {
    await queue('a', 'same', 'r1');
    await publisher.publishOnce();
    await queue('a', 'same', 'r2');
    expect(await publisher.publishOnce()).toBeUndefined();
    expect(await h.storage.queueDepth()).toBe(0);
    expect((await h.storage.read((s) => s.latestEpoch()))?.epoch).toBe(1);
  });

  it('copies committed audit blobs that audit storage lacks when it starts', async () => {
    await queue('a', '1', 'r1');
    await publisher.publishOnce();
    await queue('b', '1', 'r2');
    await publisher.publishOnce();
    rmSync(join(h.dir, 'audit', '2'), { recursive: true });
    expect(await audit.list(2)).toHaveLength(0);
    expect(await publisher.reconcileAuditStorage()).toBe(1);
    const [ref] = await audit.list(2);
    const record = await h.storage.read((s) => s.epoch(2));
    expect(await audit.get(ref!)).toEqual(record!.auditBlob);
  });

  it('retries a failed audit blob copy before the next epoch', async () => {
    const failing = new FilesystemAuditStorage(join(h.dir, 'audit'));
    let fail = true;
    const put = failing.put.bind(failing);
    failing.put = async (...args) => {
      if (fail) throw new Error('disk full');
      return put(...args);
    };
    const p = new Publisher(h.storage, h.ctx, failing, new FileWriterLock(join(h.dir, 'lock2')), {
      maxBatchSize: 3,
      epochIntervalMs: 1,
    });
    await p.init();
    await queue('a', '1', 'r1');
    await expect(p.publishOnce()).rejects.toThrow('disk full');
    expect((await h.storage.read((s) => s.latestEpoch()))?.epoch).toBe(1);
    fail = false;
    await queue('b', '1', 'r2');
    await p.publishOnce();
    expect(await audit.list(1)).toHaveLength(1);
    expect(await audit.list(2)).toHaveLength(1);
    await p.stop();
  });

  // (A second process is refused the lock: test/integration/directory.)
  it('refuses to publish once it no longer holds the writer lock', async () => {
    await publisher.stop();
    await queue('a', '1', 'r1');
    await expect(publisher.publishOnce()).rejects.toThrow(/writer lock/);
  });
});
