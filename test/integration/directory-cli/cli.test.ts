// `keyfleet lookup|history|audit` as child processes against real directory-node processes
// on loopback (a publisher taking changes, a separate reader on its database answering the
// CLI): verified lookups, histories and audits of the published epochs, and failures (exit 1, with the failing check) for wrong keys and for
// a proxy that tampers with the directory's answers.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vrfPublicKeyFromSecret } from '@keyfleet/sdk/vrf/ecvrf';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, MAIN, startChild, stopChild, waitFor, writeKeys } from '../directory/harness.ts';

const CLI = new URL('../../../sdk/src/cli/main.ts', import.meta.url).pathname;
const NS = 'it-directory-cli';

let dir: string;
let publisher: Child;
let reader: Child;
/** the publisher, where changes are posted */
let url: string;
/** a separate reader process on the same database, which the CLI asks */
let readerUrl: string;
let signingKey: string;
let vrfKey: string;
let latestEpoch: number;
let proxy: Server | undefined;

type Run = { code: number; stdout: string; stderr: string; json: Record<string, unknown> };

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--json'], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {}
      resolve({ code, stdout, stderr, json });
    });
  });
}

const keys = () => ['--signing-key', signingKey, '--vrf-key', vrfKey];
/** A lookup of alice at the reader with the given keys. */
const lookupWith = (signing: string, vrf: string) =>
  cli('lookup', '--url', readerUrl, '--user', 'alice', '--signing-key', signing, '--vrf-key', vrf);

async function post(username: string, value: string, requestId: string): Promise<void> {
  const res = await fetch(`${url}/v1/changes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, value: Buffer.from(value).toString('base64url'), requestId }),
  });
  expect([200, 202]).toContain(res.status);
}

async function epoch(): Promise<number> {
  const res = await fetch(`${url}/v1/epochs/latest`);
  return res.ok ? ((await res.json()) as { epoch: number }).epoch : 0;
}

/** Posts a batch of changes and waits until they are published in a new epoch. */
async function publish(changes: [string, string][], tag: string): Promise<void> {
  const before = await epoch();
  for (const [i, [u, v]] of changes.entries()) await post(u, v, `${tag}-${i}`);
  await waitFor(`epoch after ${tag}`, async () => ((await epoch()) > before ? true : undefined));
}

/** A proxy to the directory that lets `tamper` rewrite the JSON of chosen paths. */
async function tamperingProxy(
  tamper: (path: string, body: Record<string, unknown>) => void,
): Promise<string> {
  proxy = createServer(async (req, res) => {
    const upstream = await fetch(`${readerUrl}${req.url}`);
    const text = await upstream.text();
    let body = text;
    if (upstream.ok) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      tamper(req.url ?? '', parsed);
      body = JSON.stringify(parsed);
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

async function closeProxy(): Promise<void> {
  if (proxy) await new Promise((r) => proxy!.close(r));
  proxy = undefined;
}

/** Flips one bit in the middle of a base64url field. */
function flip(field: string): string {
  const bytes = Buffer.from(field, 'base64url');
  bytes[bytes.length >> 1]! ^= 0x01;
  return bytes.toString('base64url');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kf-it-dircli-'));
  const files = writeKeys(dir);
  // both roles share the database, the audit directory and the VRF key
  const common = [
    '--namespace',
    NS,
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'data'),
    '--audit-dir',
    join(dir, 'audit'),
    '--vrf-key-file',
    files.vrfKeyFile,
  ];
  publisher = await startChild(
    MAIN,
    [
      '--mode',
      'publisher',
      ...common,
      '--signing-key-file',
      files.signingKeyFile,
      '--epoch-interval-ms',
      '100',
      '--label-threads',
      '1',
    ],
    {},
  );
  url = `http://127.0.0.1:${publisher.port}`;
  // The keys a user would have pinned, derived here from the secrets, not read from /v1/info.
  signingKey = readFileSync(files.signingPublicKeyFile, 'utf8').trim();
  vrfKey = bytesToHex(vrfPublicKeyFromSecret(hexToBytes(readFileSync(files.vrfKeyFile, 'utf8').trim())));
  await publish(
    [
      ['alice', 'alice-key-1'],
      ['bob', 'bob-key-1'],
    ],
    'one',
  );
  await publish(
    [
      ['alice', 'alice-key-2'],
      ['carol', 'carol-key-1'],
    ],
    'two',
  );
  await publish([['alice', 'alice-key-3']], 'three');
  latestEpoch = await epoch();
  reader = await startChild(
    MAIN,
    ['--mode', 'reader', ...common, '--signing-public-key-file', files.signingPublicKeyFile],
    {},
  );
  readerUrl = `http://127.0.0.1:${reader.port}`;
}, 120_000);

afterAll(async () => {
  await closeProxy();
  if (reader) await stopChild(reader);
  if (publisher) await stopChild(publisher);
  rmSync(dir, { recursive: true, force: true });
});

describe('keyfleet lookup|history|audit against directory-node publisher and reader processes', () => {
  it('lookup verifies the latest version of a key', async () => {
    const r = await cli('lookup', '--url', readerUrl, '--user', 'alice', ...keys());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ verified: true, username: 'alice', version: 3 });
    expect(Buffer.from(r.json.value as string, 'base64url').toString()).toBe('alice-key-3');
    expect((r.json.head as { epoch: number }).epoch).toBe(latestEpoch);
  });

  it('lookup with a trust file, and the human output says what was verified', async () => {
    const trust = join(dir, 'trust.json');
    writeFileSync(
      trust,
      JSON.stringify({
        namespace: NS,
        configuration: 'whatsapp_v1',
        signingPublicKey: signingKey,
        vrfPublicKey: vrfKey,
      }),
    );
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(
        process.execPath,
        [CLI, 'lookup', '--url', readerUrl, '--user', 'bob', '--trust', trust],
        (e, out) => resolve({ code: e === null ? 0 : Number(e.code), out }),
      ),
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain('VERIFIED lookup of "bob"');
    expect(r.out).toMatch(/version {8}1 \(published at epoch [1-9]\d*\)/);
    expect(r.out).toContain(`epoch          ${latestEpoch} (signed `);
    expect(r.out).toContain(`signing key    ${signingKey}`);
  });

  it('history verifies every version, newest first, and the most recent N', async () => {
    const all = await cli('history', '--url', readerUrl, '--user', 'alice', ...keys());
    expect(all.code).toBe(0);
    const versions = all.json.versions as { version: number; publishedAtEpoch: number; value: string }[];
    expect(versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(versions.map((v) => Buffer.from(v.value, 'base64url').toString())).toEqual([
      'alice-key-3',
      'alice-key-2',
      'alice-key-1',
    ]);
    const recent = await cli(
      'history',
      '--url',
      readerUrl,
      '--user',
      'alice',
      '--most-recent',
      '2',
      ...keys(),
    );
    expect(recent.code).toBe(0);
    expect((recent.json.versions as unknown[]).length).toBe(2);
  });

  it('audit verifies every published epoch from the empty tree', async () => {
    const r = await cli('audit', '--url', readerUrl, '--signing-key', signingKey, '--from', '0');
    expect(r.code).toBe(0);
    const epochs = r.json.epochs as { epoch: number; inserted: number }[];
    expect(epochs.map((e) => e.epoch)).toEqual(Array.from({ length: latestEpoch }, (_, i) => i + 1));
    expect(epochs[0]!.inserted).toBeGreaterThan(0);
    const part = await cli(
      'audit',
      '--url',
      readerUrl,
      '--signing-key',
      signingKey,
      '--from',
      '1',
      '--to',
      '2',
    );
    expect(part.code).toBe(0);
    expect((part.json.epochs as unknown[]).length).toBe(1);
  });

  it('fails with exit 1 and the reason for a wrong signing key or a wrong VRF key', async () => {
    const other = bytesToHex(vrfPublicKeyFromSecret(new Uint8Array(32).fill(7)));
    const wrongSigning = await lookupWith(other, vrfKey);
    expect(wrongSigning.code).toBe(1);
    expect(wrongSigning.json).toMatchObject({ verified: false, check: 'epoch-head' });
    expect(wrongSigning.json.reason).toMatch(/signature does not verify/);
    const wrongVrf = await lookupWith(signingKey, other);
    expect(wrongVrf.code).toBe(1);
    expect(wrongVrf.json).toMatchObject({ verified: false, check: 'lookup' });
    expect(wrongVrf.json.reason).toMatch(/vrf/i);
    const wrongNamespace = await cli(
      'audit',
      '--url',
      readerUrl,
      '--signing-key',
      signingKey,
      '--namespace',
      'other',
    );
    expect(wrongNamespace.code).toBe(1);
    expect(wrongNamespace.json.reason).toMatch(/namespace "it-directory-cli", not "other"/);
  });

  it('fails against a proxy that tampers with proofs, heads or audit blobs', async () => {
    const lookupProxy = await tamperingProxy((path, body) => {
      if (path.startsWith('/v1/lookup')) body.proof = flip(body.proof as string);
    });
    const lookup = await cli('lookup', '--url', lookupProxy, '--user', 'alice', ...keys());
    expect(lookup.code).toBe(1);
    expect(lookup.json).toMatchObject({ verified: false, check: 'lookup' });
    await closeProxy();

    const valueProxy = await tamperingProxy((path, body) => {
      if (path.startsWith('/v1/lookup')) body.version = 2;
    });
    const version = await cli('lookup', '--url', valueProxy, '--user', 'alice', ...keys());
    expect(version.code).toBe(1);
    expect(version.json.reason).toMatch(/says version 2, the proof proves version 3/);
    await closeProxy();

    const rootProxy = await tamperingProxy((path, body) => {
      if (path === '/v1/epochs/latest') body.rootHash = '00'.repeat(32);
    });
    const root = await cli('history', '--url', rootProxy, '--user', 'alice', ...keys());
    expect(root.code).toBe(1);
    expect(root.json).toMatchObject({ verified: false, check: 'epoch-head' });
    expect(root.json.reason).toMatch(/served rootHash .* differs from the signed rootHash/);
    await closeProxy();

    const auditProxy = await tamperingProxy((path, body) => {
      if (path === '/v1/audit/2') {
        const blobs = body.blobs as { proof: string }[];
        blobs[0]!.proof = flip(blobs[0]!.proof);
      }
    });
    const audit = await cli('audit', '--url', auditProxy, '--signing-key', signingKey);
    expect(audit.code).toBe(1);
    expect(audit.json).toMatchObject({ verified: false, check: 'audit' });
    expect(audit.json.reason).toMatch(/epoch 1 -> 2/);
    expect(audit.stderr).toContain('NOT VERIFIED (audit)');
    await closeProxy();
  });

  it('exits 2 for usage errors', async () => {
    const r = await cli(
      'lookup',
      '--url',
      readerUrl,
      '--user',
      'alice',
      '--signing-key',
      'zz',
      '--vrf-key',
      vrfKey,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('signing key must be 64 hex characters');
  });
});
