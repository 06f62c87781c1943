// The fleet serves its own validation bundle and the backup client trusts it only once verified,
// on a real seven-process LocalFleet: the bundle is built in the test the way the operator does
// (statement over the members' real HSM certificates and the fleet's real OPAQUE key, operator
// signature, witness countersignature, digest logged in a real key directory and proven by its
// lookup proof), written where the operator's ConfigMap volume would put it, and served by every
// member at GET /v1/attestation. The client accepts it and backs up and recovers through it; it
// refuses a fleet with no bundle, a tampered bundle, a rolled-back bundle, and a fleet whose
// answering member (the leader) the bundle does not list.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type DsseEnvelope,
  encodeBundle,
  envelopeDigest,
  type FleetStatementInput,
  formatAttestationTrust,
} from '@keyfleet/sdk/attestation/index';
import { ESCROW_PATHS } from '@keyfleet/sdk/backup/wire';
import { AcceptedBundleStore } from '@keyfleet/sdk/vault/accepted-bundles';
import { type AttestedFleetOptions, connectAttestedFleet } from '@keyfleet/sdk/vault/attested-client';
import { Env, HttpPath } from '@keyfleet/sdk/vault/contract';
import { FleetRefusedError } from '@keyfleet/sdk/vault/fleet-attestation';
import { refusalOf } from '@keyfleet/sdk/vault/testing';
import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHEAP_STRETCHING } from '../../../vault-node/src/escrow/testing.ts';
import { LocalFleet, type LocalMember, retry } from '../../fleet/local-fleet.ts';
import { AttestationFixture } from '../attestation/fixture.ts';
import { post, retryingTransport, settled } from './fleet-probe.ts';

const dir = mkdtempSync(join(tmpdir(), 'kf-vault-attestation-'));
// Where the operator's Pod mounts the ConfigMap (one file shared by every member, as a ConfigMap is).
const bundleFile = join(dir, 'bundle.json');

// LocalFleet has no option for extra member environment: every member it spawns in this test
// file (its own worker) also gets the bundle file.
const memberEnv = LocalFleet.prototype.memberEnv;
LocalFleet.prototype.memberEnv = function (this: LocalFleet, m: LocalMember) {
  return { ...memberEnv.call(this, m), [Env.attestationBundleFile]: bundleFile };
};

const f = new AttestationFixture();
let fleet: LocalFleet;
let opaqueServerPublicKey: Uint8Array;
const uid = '3c9d2f7a-1b4e-4d6a-9f0c-5e8b7a2d1c36';
const store = new AcceptedBundleStore(join(dir, 'accepted-bundles'));

beforeAll(async () => {
  fleet = await LocalFleet.start({ size: 7, tickMs: 50 }, 90_000);
  opaqueServerPublicKey = await fleetOpaqueKey(fleet.members[0] as LocalMember);
}, 150_000);

afterAll(async () => {
  await fleet?.destroy();
  f.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the operator must learn for the statement: the fleet's OPAQUE server key (as a client sees it). */
async function fleetOpaqueKey(via: LocalMember): Promise<Uint8Array> {
  await opaque.ready;
  const password = 'opaque key probe';
  const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({ password });
  const answer = await retry(async () => {
    const r = await post(via.clientUrl + ESCROW_PATHS.registerStart, {
      userId: 'opaque-key-probe',
      registrationRequest,
    });
    if (r.status !== 200) throw new Error(`register start: HTTP ${r.status}`);
    return r.body as { registrationResponse: string };
  }, 30_000);
  const { serverStaticPublicKey } = opaque.client.finishRegistration({
    clientRegistrationState,
    registrationResponse: answer.registrationResponse,
    password,
    keyStretching: CHEAP_STRETCHING,
  });
  return new Uint8Array(Buffer.from(serverStaticPublicKey, 'base64url'));
}

interface Deployment {
  readonly bundle: Uint8Array;
  readonly envelope: DsseEnvelope;
  readonly serial: number;
}

/** The operator's sequence for `members` of the running fleet, chained to `previous`. */
async function deploy(previous: Deployment | null, members = fleet.members): Promise<Deployment> {
  const serial = (previous?.serial ?? 0) + 1;
  const [namespace, name] = fleet.fleetId.split('/') as [string, string];
  const now = Math.floor(Date.now() / 1000) * 1000;
  const input: FleetStatementInput = f.input({
    fleet: { namespace, name, uid },
    serial,
    generation: serial,
    members: members.map((m) => ({ id: m.id, zone: m.zone, certificate: m.certificate as Uint8Array })),
    zones: members.map((m) => m.zone),
    manufacturerCaPublicKey: fleet.caPublicKey,
    opaqueServerPublicKey,
    createdAt: now - 60_000,
    expiresAt: now + 86_400_000,
    previousAttestationDigest: previous ? envelopeDigest(previous.envelope) : null,
  });
  const { bundle, envelope } = await f.attest(input, previous?.envelope);
  return { bundle: encodeBundle(bundle), envelope, serial };
}

/** Publishes `bytes` as the operator's ConfigMap update would, and waits until every member serves them. */
async function publish(bytes: Uint8Array): Promise<void> {
  writeFileSync(bundleFile, bytes);
  await retry(async () => {
    for (const m of fleet.members) {
      const res = await fetch(m.clientUrl + HttpPath.attestation, { signal: AbortSignal.timeout(5000) });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || !body.equals(Buffer.from(bytes)))
        throw new Error(`${m.id} serves another bundle`);
    }
  }, 15_000);
}

const via = () => fleet.members[3] as LocalMember;
const options = (o: Partial<AttestedFleetOptions> = {}): AttestedFleetOptions => ({
  url: via().clientUrl,
  fleetId: fleet.fleetId,
  trust: { ...f.trust, manufacturerCaKeys: [fleet.caPublicKey], maxClockSkewSeconds: 300 },
  store,
  transport: retryingTransport(via().clientUrl),
  keyStretching: CHEAP_STRETCHING,
  ...o,
});

const cli = fileURLToPath(new URL('../../../sdk/src/cli/main.ts', import.meta.url));

/** `keyfleet backup <action>` against the fleet, verifying with its own trust file and state dir. */
async function keyfleetBackup(
  action: string,
  user: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = join(dir, 'cli');
  mkdirSync(home, { recursive: true });
  const trust = join(home, 'attestation-trust.json');
  writeFileSync(trust, formatAttestationTrust(options().trust));
  writeFileSync(join(home, 'password'), 'battery staple\n');
  const args = [
    'backup',
    action,
    '--attestation-trust',
    trust,
    '--fleet',
    fleet.fleetId,
    '--url',
    via().clientUrl,
  ];
  args.push('--user', user, '--password-file', join(home, 'password'), '--json');
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let first: Deployment;
let second: Deployment;
const backupKey = crypto.getRandomValues(new Uint8Array(32));

describe('a fleet that serves its attestation, and a client that verifies it', () => {
  it('refuses a fleet that has published no attestation (every member answers 404)', async () => {
    for (const m of fleet.members) {
      const res = await fetch(m.clientUrl + HttpPath.attestation);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { code: 'no-attestation', message: 'no attestation published yet' },
      });
    }
    expect((await refusalOf(connectAttestedFleet(options()))).code).toBe('no-bundle');
  });

  it('accepts the served bundle, then backs up and recovers through the attested members', async () => {
    first = await deploy(null);
    await publish(first.bundle);
    const { client, accepted } = await connectAttestedFleet(options());
    expect(accepted.serial).toBe(1);
    expect([...accepted.members.keys()]).toEqual(fleet.members.map((m) => m.id));
    await client.register('alice', 'correct horse', backupKey);
    expect(Buffer.from(await client.recover('alice', 'correct horse')).equals(Buffer.from(backupKey))).toBe(
      true,
    );
    expect(Buffer.from(store.load(fleet.fleetId) as Uint8Array).equals(Buffer.from(first.bundle))).toBe(true);
  }, 60_000);

  it('follows the next deployment, and refuses a tampered one that the members still serve', async () => {
    second = await deploy(first);
    const tampered = Buffer.from(second.bundle);
    const at = tampered.indexOf('"envelope":{"payload":"') + 60;
    tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
    await publish(new Uint8Array(tampered)); // it decodes: a member cannot tell, the client can
    const invalid = await refusalOf(connectAttestedFleet(options()));
    expect(invalid.code).toBe('invalid-bundle');
    expect(invalid.reasons[0]).toMatch(/^envelope: /);

    await publish(second.bundle);
    const { client, accepted } = await connectAttestedFleet(options());
    expect(accepted.serial).toBe(2);
    expect(Buffer.from(await client.recover('alice', 'correct horse')).equals(Buffer.from(backupKey))).toBe(
      true,
    );
  }, 60_000);

  it('serves the keyfleet CLI: backup register and recover verify the served bundle first', async () => {
    const registered = await keyfleetBackup('register', 'carol');
    expect(registered.code, registered.stderr).toBe(0);
    const out = JSON.parse(registered.stdout);
    expect(out.attestation).toMatchObject({
      fleet: fleet.fleetId,
      serial: 2,
      envelopeDigest: expect.any(String),
    });
    const recovered = await keyfleetBackup('recover', 'carol');
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(JSON.parse(recovered.stdout).backupKey).toBe(out.backupKey);
  }, 60_000);

  it('refuses a rollback to the older bundle, served by every member', async () => {
    await publish(first.bundle);
    const cliRollback = await keyfleetBackup('recover', 'carol');
    expect(cliRollback.code).toBe(4);
    expect(JSON.parse(cliRollback.stdout).error.code).toBe('fleet-refused:rollback');
    const rollback = await refusalOf(connectAttestedFleet(options()));
    expect(rollback.code).toBe('rollback');
    expect(rollback.message).toMatch(/serial: 1 is older than the last seen serial 2/);
    expect(Buffer.from(store.load(fleet.fleetId) as Uint8Array).equals(Buffer.from(second.bundle))).toBe(
      true,
    );
  });

  it('refuses a fleet whose answering member (the leader) the bundle does not list', async () => {
    // The leader answers (followers forward to it); a deployment without it verifies, but its
    // signed responses must not count. Retried if leadership moves between deploy and request.
    let previous = second;
    let refusal: FleetRefusedError | undefined;
    let leader: LocalMember | undefined;
    for (let attempt = 0; attempt < 3 && !refusal; attempt++) {
      leader = await settled(fleet);
      const without = await deploy(
        previous,
        fleet.members.filter((m) => m !== leader),
      );
      previous = without;
      await publish(without.bundle);
      const { client, accepted } = await connectAttestedFleet(options());
      expect(accepted.members.has(leader.id)).toBe(false);
      refusal = await client.register(`bob-${attempt}`, 'pw', backupKey).then(
        () => undefined,
        (e: unknown) => {
          if (e instanceof FleetRefusedError) return e;
          throw e;
        },
      );
    }
    expect(refusal?.code).toBe('member-not-in-bundle');
    expect(refusal?.message).toContain(`member "${leader?.id}" answered /v1/escrow/register/start`);
  }, 90_000);
});
