// The PostgreSQL storage backend against a real PostgreSQL server started for the test.
import { afterAll, beforeAll } from 'vitest';
import { PostgresStorage } from '../../../directory-node/src/storage/postgres.ts';
import { describeStorageConformance } from '../../../directory-node/src/testing/storage-conformance.ts';
import { startPostgres, type TestPostgres } from './postgres-server.ts';

let server: TestPostgres;
let databases = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 180_000);
afterAll(() => server?.stop());

describeStorageConformance('PostgreSQL', async (options) => {
  const name = `directory_${databases++}`;
  server.createDatabase(name);
  return PostgresStorage.open({ connectionString: server.url(name), ...options });
});
