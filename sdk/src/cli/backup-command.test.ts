// keyfleet backup: verification of the fleet's attestation is on by default (usage error without
// --attestation-trust), a refused fleet exits 4 with the reason before any escrow message, the
// accepted bundle is recorded beside the trust file so a rollback is refused on the next run, and
// the insecure opt-out warns on every run.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, FLEET } from '../../../test/integration/attestation/fixture.ts';
import { encodeBundle } from '../attestation/bundle.ts';
import { formatAttestationTrust } from '../attestation/trust.ts';
import { runCli } from './main.ts';

const f = new AttestationFixture();
const dir = mkdtempSync(join(tmpdir(), 'kf-backup-cli-'));
const file = (name: string, content: string | Uint8Array) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};
// Nothing listens on the discard port of loopback: an accepted fleet fails at the first escrow call.
const url = 'http://127.0.0.1:9';
let trust: string;
let password: string;
let first: string;
let second: string;
let tampered: string;

beforeAll(async () => {
  const now = Math.floor(Date.now() / 1000) * 1000;
  const a = await f.attest(f.input({ createdAt: now - 60_000, expiresAt: now + 86_400_000 }));
  const b = await f.next(a, { expiresAt: now + 86_400_000 });
  trust = file('attestation-trust.json', formatAttestationTrust(f.trust));
  password = file('password', 'correct horse\n');
  first = file('first.json', encodeBundle(a.bundle));
  second = file('second.json', encodeBundle(b.bundle));
  const bad = Buffer.from(encodeBundle(b.bundle));
  const at = bad.indexOf('"envelope":{"payload":"') + 60;
  bad[at] = bad[at] === 0x41 ? 0x42 : 0x41;
  tampered = file('tampered.json', bad);
});
afterAll(() => {
  f.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const fleet = `${FLEET.namespace}/${FLEET.name}`;
const common = () => ['--user', 'alice', '--password-file', password, '--url', url, '--fleet', fleet];
/** keyfleet backup recover of `bundle`, verified against the attestation trust file. */
const recoverWith = (bundle: string, ...extra: string[]) =>
  run('backup', 'recover', ...common(), '--attestation-trust', trust, '--bundle', bundle, ...extra);

describe('keyfleet backup and the fleet attestation', () => {
  it('documents the attestation options and exit status in --help', async () => {
    const help = await run('backup', '--help');
    expect(help.code).toBe(0);
    for (const option of [
      '--attestation-trust',
      '--fleet',
      '--bundle',
      '--state-dir',
      '--insecure-skip-attestation',
    ])
      expect(help.out).toContain(option);
    expect(help.out).toContain('4 fleet refused');
  });

  it('requires an attestation trust file unless told, insecurely, to skip the attestation', async () => {
    const r = await run('backup', 'register', ...common());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--attestation-trust FILE is required/);
    const noFleet = await run(
      'backup',
      'register',
      '--user',
      'a',
      '--password-file',
      password,
      '--url',
      url,
      '--attestation-trust',
      trust,
    );
    expect(noFleet.code).toBe(2);
    expect(noFleet.err).toMatch(/--fleet NAMESPACE\/NAME is required/);
  });

  it('refuses a fleet whose bundle does not verify, with exit 4 and the reasons, before any escrow call', async () => {
    const r = await recoverWith(tampered, '--json');
    expect(r.code).toBe(4);
    const error = JSON.parse(r.out).error;
    expect(error.code).toBe('fleet-refused:invalid-bundle');
    expect(error.reasons[0]).toMatch(/^envelope: /);
    const human = await recoverWith(tampered);
    expect(human.err).toMatch(
      /^keyfleet backup recover: fleet-refused:invalid-bundle: the fleet's attestation does not verify: envelope: /,
    );
  });

  it('refuses another fleet than --fleet', async () => {
    // The last --fleet wins.
    const r = await recoverWith(second, '--fleet', 'vaults/other');
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/fleet-refused:wrong-fleet/);
  });

  it('records the accepted bundle beside the trust file and refuses a rollback on the next run', async () => {
    const accepted = await recoverWith(second);
    expect(accepted.err).toMatch(
      /verified fleet vaults\/backups attestation serial 2 \(sha256:[0-9a-f]{64}\)/,
    );
    expect(accepted.code).toBe(1); // nothing answers escrow at the discard port
    expect(accepted.err).toMatch(/change since the previous deployment: /);
    expect(readdirSync(join(dir, 'accepted-bundles'))).toEqual(['vaults_backups.last-accepted-bundle.json']);
    const rollback = await recoverWith(first);
    expect(rollback.code).toBe(4);
    expect(rollback.err).toMatch(/fleet-refused:rollback: .*serial: 1 is older than the last seen serial 2/);
    const elsewhere = await recoverWith(first, '--state-dir', join(dir, 'other-state'));
    expect(elsewhere.code).toBe(1);
  });

  it('skips the attestation only with --insecure-skip-attestation and --trust, warning loudly', async () => {
    const noTrust = await run('backup', 'recover', ...common(), '--insecure-skip-attestation');
    expect(noTrust.code).toBe(2);
    expect(noTrust.err).toMatch(/--insecure-skip-attestation needs --trust FILE/);
    const fleetTrust = file(
      'fleet-trust.json',
      JSON.stringify({
        fleetId: fleet,
        manufacturerCa: Buffer.from(f.ca.publicKey).toString('hex'),
        certificates: f.members(3).map((m) => Buffer.from(m.certificate).toString('base64url')),
        url,
      }),
    );
    const skipped = await run(
      'backup',
      'recover',
      '--user',
      'alice',
      '--password-file',
      password,
      '--trust',
      fleetTrust,
      '--insecure-skip-attestation',
    );
    expect(skipped.err).toMatch(
      /^WARNING: --insecure-skip-attestation: the fleet's signed deployment attestation is NOT checked/,
    );
    expect(skipped.code).toBe(1);
  });
});
