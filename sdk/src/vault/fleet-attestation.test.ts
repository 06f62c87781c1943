// The backup client's acceptance of a fleet's validation bundle, on bundles made by the operator's
// real sequence and logged in a real directory: what it yields when the bundle verifies, and each
// refusal with its code: does not verify, rollback, fork, another fleet, unreadable record.
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, NOW } from '../../../test/integration/attestation/fixture.ts';
import { bundleFor } from '../attestation/attest.ts';
import { encodeBundle } from '../attestation/bundle.ts';
import { decodeCertificate } from '../hsm/certificate.ts';
import { AcceptedBundleStore } from './accepted-bundles.ts';
import { type AcceptOptions, acceptFleetBundle } from './fleet-attestation.ts';
import { refusalOf } from './testing.ts';

const f = new AttestationFixture();
const trust = { ...f.trust, maxClockSkewSeconds: 300 };
type Attested = Awaited<ReturnType<AttestationFixture['attest']>>;
let first: Attested;
let second: Attested;
let dir: string;

beforeAll(async () => {
  first = await f.attest(f.input());
  second = await f.next(first);
  dir = await mkdtemp(join(tmpdir(), 'kf-accepted-'));
});
afterAll(async () => {
  f.close();
  await rm(dir, { recursive: true, force: true });
});

const bytes = (a: Attested) => encodeBundle(a.bundle);
const accept = (bundle: Uint8Array, o: Partial<AcceptOptions> = {}) =>
  acceptFleetBundle(bundle, { trust, fleetId: 'vaults/backups', now: NOW, ...o });

describe('acceptFleetBundle', () => {
  it('yields the attested members’ certified identity keys and OPAQUE key for a bundle that verifies', async () => {
    const a = accept(bytes(second), { lastAccepted: bytes(first) });
    expect(a.fleetId).toBe('vaults/backups');
    expect(a.serial).toBe(2);
    expect(a.directoryEpoch).toBe(2);
    const certified = f
      .members(3)
      .map((m) => [m.id, Buffer.from(decodeCertificate(m.certificate).identityPublicKey).toString('hex')]);
    expect([...a.members].map(([id, key]) => [id, Buffer.from(key).toString('hex')])).toEqual(certified);
    expect(Buffer.from(a.opaqueServerPublicKey).toString('hex')).toBe('06'.repeat(32));
    expect(a.verification.changes).toEqual(expect.any(Array));
    expect(Buffer.from(a.bundle).equals(Buffer.from(bytes(second)))).toBe(true);
  });

  it('refuses a bundle that does not verify, naming the failed checks', async () => {
    const tampered = Buffer.from(bytes(first));
    const at = tampered.indexOf('"envelope":{"payload":"') + 60;
    tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
    const e = await refusalOf(() => accept(new Uint8Array(tampered)));
    expect(e.code).toBe('invalid-bundle');
    expect(e.reasons[0]).toMatch(/^envelope: /);
    expect(e.message).toContain("the fleet's attestation does not verify: envelope: ");

    const otherOperator = await refusalOf(() =>
      accept(bytes(first), { trust: { ...trust, operatorKeys: [f.witness.publicKey] } }),
    );
    expect(otherOperator.code).toBe('invalid-bundle');

    const expired = await refusalOf(() =>
      accept(bytes(first), { now: Date.parse(first.statement.predicate.expiresAt) + 1 }),
    );
    expect(expired.reasons).toContainEqual(expect.stringMatching(/^freshness: expiresAt: expired/));

    const unlogged = encodeBundle(bundleFor(first.envelope, first.bundle.countersignature, undefined));
    expect((await refusalOf(() => accept(unlogged))).reasons).toContainEqual(
      expect.stringMatching(/^directory inclusion: not verified/),
    );
    expect((await refusalOf(() => accept(new TextEncoder().encode('<html>')))).code).toBe('invalid-bundle');
  });

  it('refuses a rollback to an older bundle and a fork of the accepted serial', async () => {
    const rollback = await refusalOf(() => accept(bytes(first), { lastAccepted: bytes(second) }));
    expect(rollback.code).toBe('rollback');
    expect(rollback.message).toMatch(/rollback: serial: 1 is older than the last seen serial 2/);

    const fork = await f.attest(f.input({ guessLimit: 3 }));
    const forked = await refusalOf(() => accept(bytes(fork), { lastAccepted: bytes(first) }));
    expect(forked.code).toBe('rollback');
    expect(forked.message).toMatch(/fork/);
  });

  it('refuses a valid bundle of another fleet than the one meant', async () => {
    const e = await refusalOf(() => accept(bytes(first), { fleetId: 'vaults/other' }));
    expect(e.code).toBe('wrong-fleet');
    expect(e.message).toBe("the fleet's attestation is for fleet vaults/backups, not vaults/other");
  });

  it('refuses to go on when its record of the last accepted bundle is unreadable', async () => {
    const e = await refusalOf(() =>
      accept(bytes(second), { lastAccepted: new TextEncoder().encode('{"envelope":') }),
    );
    expect(e.code).toBe('bad-state');
  });
});

describe('AcceptedBundleStore', () => {
  it('keeps one owner-only file per fleet that only moves forward', async () => {
    const store = new AcceptedBundleStore(join(dir, 'state'));
    expect(store.load('vaults/backups')).toBeUndefined();
    store.save(accept(bytes(second)));
    const file = store.fileFor('vaults/backups');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(store.load('vaults/backups') as Uint8Array).equals(Buffer.from(bytes(second)))).toBe(
      true,
    );
    store.save(accept(bytes(first)));
    expect(Buffer.from(store.load('vaults/backups') as Uint8Array).equals(Buffer.from(bytes(second)))).toBe(
      true,
    );
    expect(store.load('vaults/other')).toBeUndefined();
    expect(() => store.fileFor('../etc')).toThrow(/not <namespace>\/<name>/);
    expect(() => store.fileFor('vaults/Backups')).toThrow();
  });
});
