// The PostgreSQL storage backend against a real PostgreSQL server started for the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLookupProof } from '@keyfleet/sdk/akd/codec';
import { lookupVerify } from '@keyfleet/sdk/akd/verify';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../../../directory-node/src/storage/postgres.ts';
import { describeStorageConformance } from '../../../directory-node/src/testing/storage-conformance.ts';
import { type Child, MAIN, postChange, startChild, stopChild, waitFor, writeKeys } from './harness.ts';
import { startPostgres, type TestPostgres } from './postgres-server.ts';

let server: TestPostgres;
let databases = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 180_000);
afterAll(() => server?.stop(), 120_000);

describeStorageConformance('PostgreSQL', async (options) => {
  const name = `directory_${databases++}`;
  server.createDatabase(name);
  return PostgresStorage.open({ connectionString: server.url(name), ...options });
});

describe('directory-node on PostgreSQL', () => {
  it('a publisher and two reader processes share one PostgreSQL database', async () => {
    server.createDatabase('processes');
    const dir = mkdtempSync(join(tmpdir(), 'kf-pg-dir-'));
    const keys = writeKeys(dir);
    const db = [
      '--postgres-url',
      server.url('processes'),
      '--data-dir',
      join(dir, 'data'),
      '--audit-dir',
      join(dir, 'audit'),
    ];
    const base = ['--namespace', 'pg', '--listen', '127.0.0.1:0', ...db];
    const children: Child[] = [];
    try {
      const pub = await startChild(
        MAIN,
        [
          '--mode',
          'publisher',
          ...base,
          '--vrf-key-file',
          keys.vrfKeyFile,
          '--signing-key-file',
          keys.signingKeyFile,
          '--epoch-interval-ms',
          '100',
          '--label-threads',
          '1',
        ],
        {},
      );
      children.push(pub);
      for (let i = 0; i < 5; i++)
        await postChange(`http://127.0.0.1:${pub.port}`, `pg${i}`, `k${i}`, `pg-${i}`);
      const readerArgs = [
        '--mode',
        'reader',
        ...base,
        '--vrf-key-file',
        keys.vrfKeyFile,
        '--signing-public-key-file',
        keys.signingPublicKeyFile,
      ];
      const readers = [await startChild(MAIN, readerArgs, {}), await startChild(MAIN, readerArgs, {})];
      children.push(...readers);
      const info = (await (await fetch(`http://127.0.0.1:${readers[0]!.port}/v1/info`)).json()) as {
        vrfPublicKey: string;
      };
      for (const r of readers) {
        const res = await waitFor('pg4 published', async () => {
          const x = await fetch(`http://127.0.0.1:${r.port}/v1/lookup?username=pg4`);
          return x.ok ? ((await x.json()) as { epoch: EpochHeadJson; proof: string }) : undefined;
        });
        const out = lookupVerify(
          hexToBytes(info.vrfPublicKey),
          hexToBytes(res.epoch.rootHash),
          BigInt(res.epoch.epoch),
          new TextEncoder().encode('pg4'),
          decodeLookupProof(Buffer.from(res.proof, 'base64url')),
        );
        expect(new TextDecoder().decode(out.value)).toBe('k4');
      }
    } finally {
      for (const c of children) await stopChild(c);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
