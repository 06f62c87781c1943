import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_LABEL } from '@keyfleet/sdk/akd/label';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStorageConformance } from '../testing/storage-conformance.ts';
import { SqliteStorage } from './sqlite.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'kf-sqlite-'));
  dirs.push(d);
  return join(d, 'd.db');
}

describeStorageConformance('SQLite', async (options) => new SqliteStorage(dbPath(), options));

describe('SqliteStorage', () => {
  it('serves a read-only connection (another process) what the writer committed', async () => {
    const path = dbPath();
    const writer = new SqliteStorage(path);
    const enc = new TextEncoder();
    await writer.enqueue({ requestId: 'r', username: enc.encode('a'), value: enc.encode('b') }, 10);
    const reader = new SqliteStorage(path, { readOnly: true });
    expect(await reader.queueDepth()).toBe(1);
    await reader.read(async (snap) => expect(await snap.getNodes([ROOT_LABEL])).toEqual([undefined]));
    await expect(
      reader.enqueue({ requestId: 'x', username: enc.encode('a'), value: enc.encode('b') }, 10),
    ).rejects.toThrow(/read-only/);
    reader.close();
    writer.close();
  });
});
