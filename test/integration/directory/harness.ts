// Child processes of directory-node on loopback for integration tests: spawn with an
// ephemeral port, learn the port from the JSON log, stop or kill them.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';

export const MAIN = new URL('../../../directory-node/src/main.ts', import.meta.url).pathname;
export const CRASH_PUBLISHER = new URL('./crash-publisher.ts', import.meta.url).pathname;

export type Child = { proc: ChildProcess; port: number; lines: string[]; exited: Promise<number | null> };

/** Starts `script` and resolves once it logs `*.listening` (or rejects if it exits first). */
export function startChild(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<Child> {
  const proc = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start: ${lines.join('\n')}`)), timeoutMs);
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        try {
          const ev = JSON.parse(line) as { event?: string; port?: number };
          if (ev.event?.endsWith('.listening') && typeof ev.port === 'number') {
            clearTimeout(timer);
            resolve({ proc, port: ev.port, lines, exited });
          }
        } catch {}
        i = buf.indexOf('\n');
      }
    });
    proc.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before listening:\n${lines.join('\n')}`));
    });
  });
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  await c.exited;
}

export type Keys = {
  vrfKeyFile: string;
  signingKeyFile: string;
  signingPublicKeyFile: string;
  witnessKeyFile: string;
};

export function writeKeys(dir: string): Keys {
  const files = {
    vrfKeyFile: join(dir, 'vrf.key'),
    signingKeyFile: join(dir, 'signing.key'),
    signingPublicKeyFile: join(dir, 'signing.pub'),
    witnessKeyFile: join(dir, 'witness.key'),
  };
  const signing = ed25519.utils.randomSecretKey();
  writeFileSync(files.vrfKeyFile, bytesToHex(ed25519.utils.randomSecretKey()));
  writeFileSync(files.signingKeyFile, signing);
  writeFileSync(files.signingPublicKeyFile, bytesToHex(ed25519.getPublicKey(signing)));
  writeFileSync(files.witnessKeyFile, ed25519.utils.randomSecretKey());
  return files;
}

export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET a JSON resource; undefined on 404. */
export async function json<T>(url: string): Promise<T | undefined> {
  const res = await fetch(url);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** POST /v1/changes; throws unless the change was queued (or already was). */
export async function postChange(
  base: string,
  username: string,
  value: string,
  requestId: string,
): Promise<void> {
  const res = await fetch(`${base}/v1/changes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, value: Buffer.from(value).toString('base64url'), requestId }),
  });
  if (res.status !== 200 && res.status !== 202)
    throw new Error(`POST /v1/changes: HTTP ${res.status} ${await res.text()}`);
}
