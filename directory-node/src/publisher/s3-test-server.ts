// Test helper: a real S3-compatible server on loopback (moto in server mode, from PyPI, installed
// by scripts/install-s3-test-server.sh into ~/.cache/keyfleet/moto). It binds port 0 and the
// port is read from its startup line, so no port is guessed. A missing install fails the test
// with the command that fixes it; nothing is skipped.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3AuditConfig } from './s3-audit-storage.ts';

export const INSTALL_COMMAND = 'bash scripts/install-s3-test-server.sh';

export type TestS3Server = {
  readonly endpoint: string;
  /** A fresh bucket and the settings to reach it (any credentials do for moto). */
  bucket(name: string, prefix?: string): Promise<S3AuditConfig>;
  /** A raw client, for tests that tamper with objects behind the storage's back. */
  client(): S3Client;
  stop(): Promise<void>;
};

function motoPython(): string {
  const python =
    process.env.KEYFLEET_MOTO_PYTHON ?? join(homedir(), '.cache', 'keyfleet', 'moto', 'bin', 'python3');
  if (!existsSync(python))
    throw new Error(`the S3 test server (moto) is not installed at ${python}: run ${INSTALL_COMMAND}`);
  return python;
}

function waitForPort(proc: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`moto server did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `moto server exited (${code}) before listening; reinstall with ${INSTALL_COMMAND}:\n${out}`,
        ),
      );
    });
  });
}

export async function startS3Server(timeoutMs = 60_000): Promise<TestS3Server> {
  const proc = spawn(motoPython(), ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: homedir(), PYTHONUNBUFFERED: '1' },
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const port = await waitForPort(proc, timeoutMs);
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  const client = () => {
    const c = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clients.push(c);
    return c;
  };
  return {
    endpoint,
    client,
    async bucket(name, prefix = '') {
      await client().send(new CreateBucketCommand({ Bucket: name }));
      return {
        endpoint,
        region: 'us-east-1',
        bucket: name,
        prefix,
        accessKeyId: 'test',
        secretAccessKey: 'test',
      };
    },
    async stop() {
      for (const c of clients) c.destroy();
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}
