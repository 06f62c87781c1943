// GET /v1/attestation: 404 until a bundle is published, then the file's exact bytes; a file that is
// rewritten in place or swapped behind the ConfigMap's `..data` symlink is picked up, and a
// truncated, foreign, oversized or vanished file never replaces the last good bundle.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFor, signFleetStatement, witnessCountersign } from '@keyfleet/sdk/attestation/attest';
import { encodeBundle } from '@keyfleet/sdk/attestation/bundle';
import { buildFleetStatement } from '@keyfleet/sdk/attestation/statement';
import { Env } from '@keyfleet/sdk/vault/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, NOW } from '../../../test/integration/attestation/fixture.ts';
import { readConfig } from '../config.ts';
import { attestationApi, BundleFile } from './attestation-api.ts';

const f = new AttestationFixture();
const dir = mkdtempSync(join(tmpdir(), 'kf-attestation-api-'));
const logged: string[] = [];

/** An operator-signed, witnessed bundle (no directory proof: the member only decodes). */
function bundleBytes(serial: number): Uint8Array {
  const envelope = signFleetStatement(buildFleetStatement(f.input({ serial })), f.operator);
  const countersignature = witnessCountersign(envelope, [f.operator.publicKey], f.witness, NOW);
  return encodeBundle(bundleFor(envelope, countersignature, undefined));
}

let first: Uint8Array;
let second: Uint8Array;
let third: Uint8Array;
const servers: Server[] = [];

beforeAll(() => {
  first = bundleBytes(1);
  second = bundleBytes(2);
  third = bundleBytes(3);
});
afterAll(() => {
  for (const s of servers) s.close();
  f.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(file: string | null): Promise<(headers?: Record<string, string>) => Promise<Response>> {
  const bundle = file
    ? new BundleFile(file, {
        recheckMs: 0,
        log: (level, msg, fields) => logged.push(`${level} ${msg} ${JSON.stringify(fields)}`),
      })
    : null;
  const server = attestationApi(bundle).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/attestation`;
  return (headers = {}) => fetch(url, { headers });
}

async function served(get: () => Promise<Response>): Promise<Uint8Array> {
  const res = await get();
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return new Uint8Array(await res.arrayBuffer());
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('GET /v1/attestation', () => {
  it('answers 404 JSON when no bundle file is configured, or none was published yet', async () => {
    for (const get of [await serve(null), await serve(join(dir, 'absent.json'))]) {
      const res = await get();
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { code: 'no-attestation', message: 'no attestation published yet' },
      });
    }
  });

  it('serves the exact bytes of the file, with an ETag that answers 304 when unchanged', async () => {
    const file = join(dir, 'plain.json');
    const get = await serve(file);
    expect((await get()).status).toBe(404);
    writeFileSync(file, first);
    expect(same(await served(get), first)).toBe(true);
    const etag = (await get()).headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect((await get({ 'if-none-match': etag })).status).toBe(304);
    writeFileSync(file, second);
    expect((await get({ 'if-none-match': etag })).status).toBe(200);
  });

  it('keeps serving the last good bundle while the file is half written, foreign, too large or gone', async () => {
    const file = join(dir, 'in-place.json');
    writeFileSync(file, first);
    const get = await serve(file);
    expect(same(await served(get), first)).toBe(true);
    logged.length = 0;
    const bad: [string, Uint8Array | string][] = [
      ['truncated', second.subarray(0, second.length - 7)],
      ['empty', ''],
      ['not a bundle', '{"apiVersion":"v1","kind":"ConfigMap"}'],
      ['unknown field', Buffer.from(second).toString().replace(/^\{/, '{"extra":1,')],
      ['too large', `${' '.repeat(1024 * 1024)}${Buffer.from(second).toString()}`],
    ];
    for (const [what, content] of bad) {
      writeFileSync(file, content);
      expect(same(await served(get), first), what).toBe(true);
    }
    expect(
      logged.filter((l) => l.startsWith('warn not serving')),
      logged.join('\n'),
    ).toHaveLength(bad.length);
    rmSync(file);
    expect(same(await served(get), first)).toBe(true);
    writeFileSync(file, second);
    expect(same(await served(get), second)).toBe(true);
  });

  it('follows a ConfigMap volume update: a new timestamped directory behind a swapped ..data symlink', async () => {
    const volume = join(dir, 'configmap');
    const version = (n: number, bytes: Uint8Array) => {
      mkdirSync(join(volume, `..2026_11_23_12_00_0${n}`), { recursive: true });
      writeFileSync(join(volume, `..2026_11_23_12_00_0${n}`, 'bundle.json'), bytes);
      symlinkSync(`..2026_11_23_12_00_0${n}`, join(volume, '..data_tmp'));
      renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
    };
    version(1, first);
    symlinkSync('..data/bundle.json', join(volume, 'bundle.json'));
    const get = await serve(join(volume, 'bundle.json'));
    expect(same(await served(get), first)).toBe(true);
    version(2, third);
    expect(same(await served(get), third)).toBe(true);
  });

  it('reads the file only when it changed, at most once per recheck period', async () => {
    const file = join(dir, 'throttled.json');
    writeFileSync(file, first);
    let now = 0;
    const bundle = new BundleFile(file, { recheckMs: 1000, now: () => now });
    expect((await bundle.current())?.bytes.length).toBe(first.length);
    writeFileSync(file, second);
    now = 999;
    expect((await bundle.current())?.bytes.length).toBe(first.length);
    now = 1000;
    expect(same((await bundle.current())?.bytes as Uint8Array, second)).toBe(true);
  });
});

describe('KEYFLEET_ATTESTATION_BUNDLE_FILE', () => {
  const base = {
    [Env.fleetId]: 'vaults/backups',
    [Env.memberId]: 'backups-dc1',
    [Env.zone]: 'dc1',
    [Env.peerUrlTemplate]: 'http://{member}.peers:7000',
    [Env.dataDir]: '/var/lib/keyfleet',
    [Env.sealingKeyFile]: '/etc/keyfleet/sealing/sealing-key',
    [Env.manufacturerCaFile]: '/etc/keyfleet/trust/ca.pub',
    [Env.operatorAdminKeyFile]: '/etc/keyfleet/trust/admin.pub',
  };
  it('is optional, and must be an absolute path when set', () => {
    expect(readConfig(base).attestationBundleFile).toBeUndefined();
    expect(
      readConfig({ ...base, [Env.attestationBundleFile]: '/etc/keyfleet/attestation/bundle.json' })
        .attestationBundleFile,
    ).toBe('/etc/keyfleet/attestation/bundle.json');
    expect(() => readConfig({ ...base, [Env.attestationBundleFile]: 'bundle.json' })).toThrow(
      /KEYFLEET_ATTESTATION_BUNDLE_FILE must be an absolute path/,
    );
  });
});
