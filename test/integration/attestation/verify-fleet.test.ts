// A fleet-deployment attestation for a real seven-process LocalFleet (its manufacturer CA and the
// certificates its members' HSMs were issued), logged through the key directory's real HTTP API
// (POST /v1/changes, GET /v1/lookup), verified by the keyfleet CLI in a child process: from a
// file and from a URL, with a diff against the previous deployment, and refused when rolled back
// or tampered with.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildFleetStatement,
  bundleFor,
  type DirectoryLookupJson,
  type DsseEnvelope,
  directoryChange,
  encodeBundle,
  envelopeDigest,
  type FleetStatementInput,
  formatAttestationTrust,
  signFleetStatement,
  type ValidationBundle,
  witnessCountersign,
} from '@keyfleet/sdk/attestation/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../fleet/local-fleet.ts';
import { AttestationFixture } from './fixture.ts';

const main = fileURLToPath(new URL('../../../sdk/src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kf-attest-'));
const f = new AttestationFixture();
let fleet: LocalFleet;
let directory: { url: string; close: () => Promise<void> };
let bundleServer: Server;
let bundleUrl: string;
const files: Record<string, string> = {};

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'verify-fleet', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The operator's sequence against the running directory: build, sign, countersign, log, bundle. */
async function deploy(
  input: FleetStatementInput,
  previous?: DsseEnvelope,
): Promise<{ bundle: ValidationBundle; envelope: DsseEnvelope }> {
  const statement = buildFleetStatement(input);
  const envelope = signFleetStatement(statement, f.operator);
  const countersignature = witnessCountersign(envelope, [f.operator.publicKey], f.witness, Date.now());
  const change = directoryChange(statement, envelope);
  const posted = await fetch(`${directory.url}/v1/changes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(change),
  });
  expect(posted.status).toBe(202);
  await f.publishPending();
  const lookup = (await (
    await fetch(`${directory.url}/v1/lookup?username=${encodeURIComponent(change.username)}`)
  ).json()) as DirectoryLookupJson;
  return { bundle: bundleFor(envelope, countersignature, lookup, previous), envelope };
}

let first: { bundle: ValidationBundle; envelope: DsseEnvelope };
let second: { bundle: ValidationBundle; envelope: DsseEnvelope };

beforeAll(async () => {
  fleet = await LocalFleet.start({ size: 7, tickMs: 50 }, 90_000);
  directory = await f.serve();
  const [namespace, name] = fleet.fleetId.split('/') as [string, string];
  const now = Math.floor(Date.now() / 1000) * 1000;
  const input = (serial: number, guessLimit: number, previous: Uint8Array | null): FleetStatementInput =>
    f.input({
      fleet: { namespace, name, uid: '6b1d3c1e-0d5f-4c9a-8e7b-2f4a9c3d1e05' },
      serial,
      generation: serial,
      guessLimit,
      members: fleet.members.map((m) => ({
        id: m.id,
        zone: m.zone,
        certificate: m.certificate as Uint8Array,
      })),
      zones: fleet.members.map((m) => m.zone),
      manufacturerCaPublicKey: fleet.caPublicKey,
      createdAt: now - 60_000 + serial * 1000,
      expiresAt: now + 86_400_000,
      previousAttestationDigest: previous,
    });
  first = await deploy(input(1, 10, null));
  second = await deploy(input(2, 5, envelopeDigest(first.envelope)), first.envelope);
  const trust = { ...f.trust, manufacturerCaKeys: [fleet.caPublicKey] };
  files.trust = join(dir, 'trust.json');
  writeFileSync(files.trust, formatAttestationTrust(trust));
  files.first = join(dir, 'first.json');
  writeFileSync(files.first, encodeBundle(first.bundle));
  files.second = join(dir, 'second.json');
  writeFileSync(files.second, encodeBundle(second.bundle));
  const tampered = Buffer.from(encodeBundle(second.bundle));
  const at = tampered.indexOf('"envelope":{"payload":"') + 60;
  tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
  files.tampered = join(dir, 'tampered.json');
  writeFileSync(files.tampered, tampered);
  bundleServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(Buffer.from(encodeBundle(second.bundle)));
  });
  bundleServer.listen(0, '127.0.0.1');
  await new Promise((r) => bundleServer.once('listening', r));
  bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/attestation`;
}, 150_000);

afterAll(async () => {
  bundleServer?.close();
  await directory?.close();
  await fleet?.destroy();
  f.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('keyfleet verify-fleet on a real fleet', () => {
  it('verifies the first deployment: signatures, witness, directory inclusion, all seven HSM chains', async () => {
    const r = await cli('--bundle', files.first!, '--trust', files.trust!, '--json');
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      reasons: string[];
      verified: string[];
      directoryEpoch: number;
    };
    expect(out.reasons).toEqual([]);
    expect(out.valid).toBe(true);
    expect(r.code).toBe(0);
    expect(out.verified.filter((v) => v.startsWith('member '))).toHaveLength(7);
    expect(
      out.verified.some((v) =>
        v.startsWith('directory inclusion: envelope digest logged under fleet/vaults/backups'),
      ),
    ).toBe(true);
    expect(out.directoryEpoch).toBe(1);
  });

  it('verifies the next deployment from a URL and prints what changed since the previous one', async () => {
    const r = await cli('--bundle', bundleUrl, '--trust', files.trust!, '--previous', files.first!);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VALID fleet vaults\/backups serial 2/);
    expect(r.stdout).toContain('guess limit: 10 -> 5');
    expect(r.stdout).toContain('serial: 1 -> 2');
  });

  it('refuses a rollback to the older bundle', async () => {
    const r = await cli(
      '--bundle',
      files.first!,
      '--trust',
      files.trust!,
      '--previous',
      files.second!,
      '--json',
    );
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; reasons: string[] };
    expect(out.reasons).toContain('rollback: serial: 1 is older than the last seen serial 2');
  });

  it('refuses a tampered bundle, saying why', async () => {
    const r = await cli('--bundle', files.tampered!, '--trust', files.trust!);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^INVALID/);
    expect(r.stdout).toMatch(/FAIL {2}(envelope|bundle): /);
  });

  it('refuses certificates when the trusted manufacturer CA is another one', async () => {
    const other = join(dir, 'other-trust.json');
    writeFileSync(other, formatAttestationTrust(f.trust));
    const r = await cli('--bundle', files.first!, '--trust', other, '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { reasons: string[] };
    expect(out.reasons).toContain(
      'manufacturer CA: manufacturerCaPublicKey: is not a trusted manufacturer CA',
    );
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli('--bundle', files.first!)).code).toBe(2);
    const r = await cli('--bundle', files.first!, '--trust', files.first!);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('trust file');
  });
});
