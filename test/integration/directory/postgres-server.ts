// A throwaway PostgreSQL server for tests, from Debian's packages (apt-get install postgresql):
// initdb into a temporary directory, listen on a free loopback port, trust auth, as a
// non-root user (the `postgres` account when the test runs as root).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TestPostgres = {
  url(database: string): string;
  createDatabase(name: string): void;
  stop(): void;
};

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    : [];
  if (versions.length === 0)
    throw new Error('PostgreSQL server binaries not found: apt-get install postgresql');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'kf-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]]
      : [join(bin, cmd), args];
    return execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).toString();
  };
  if (asRoot)
    chownSync(
      dir,
      Number(execFileSync('id', ['-u', 'postgres']).toString()),
      Number(execFileSync('id', ['-g', 'postgres']).toString()),
    );
  run('initdb', ['-D', data, '-U', 'keyfleet', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  run('pg_ctl', [
    '-D',
    data,
    '-w',
    '-t',
    '120',
    '-l',
    join(dir, 'log'),
    '-o',
    `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=on`,
    'start',
  ]);
  const psql = (sql: string) =>
    execFileSync(
      join(bin, 'psql'),
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'keyfleet', '-d', 'postgres', '-c', sql],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  return {
    url: (database) => `postgres://keyfleet@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => {
      if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error('bad database name');
      psql(`CREATE DATABASE ${name}`);
    },
    stop: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
