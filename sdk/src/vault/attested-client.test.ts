// connectAttestedFleet: the bundle is fetched from the fleet (or given), verified against the last
// accepted one, recorded, and the returned client trusts only the attested members. Each refusal:
// no bundle (404, unreachable, too large), a bundle that does not verify, a rollback, and a
// response from a member the bundle does not list (or one that claims an attested member's id
// without its HSM key).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, NOW } from '../../../test/integration/attestation/fixture.ts';
import { encodeBundle } from '../attestation/bundle.ts';
import type { Transport } from '../backup/client.ts';
import { AcceptedBundleStore } from './accepted-bundles.ts';
import { type AttestedFleetOptions, connectAttestedFleet, fetchFleetBundle } from './attested-client.ts';
import { refusalOf } from './testing.ts';

const f = new AttestationFixture();
const trust = { ...f.trust, maxClockSkewSeconds: 300 };
let first: Uint8Array;
let second: Uint8Array;
let dir: string;
let stores = 0;

beforeAll(async () => {
  const a = await f.attest(f.input());
  first = encodeBundle(a.bundle);
  second = encodeBundle((await f.next(a)).bundle);
  dir = await mkdtemp(join(tmpdir(), 'kf-attested-'));
});
afterAll(async () => {
  f.close();
  await rm(dir, { recursive: true, force: true });
});

const newStore = () => new AcceptedBundleStore(join(dir, `state-${stores++}`));
const serving =
  (status: number, body: Uint8Array | string, seen: string[] = []): typeof fetch =>
  async (input) => {
    seen.push(String(input));
    return new Response(body, { status, headers: { 'content-type': 'application/json' } });
  };
const options = (o: Partial<AttestedFleetOptions> = {}): AttestedFleetOptions => ({
  url: 'http://fleet.invalid:8080/',
  fleetId: 'vaults/backups',
  trust,
  store: newStore(),
  now: () => NOW,
  transport: async () => ({ status: 500, body: null }),
  ...o,
});

describe('fetchFleetBundle', () => {
  it('GETs <url>/v1/attestation and returns the body', async () => {
    const seen: string[] = [];
    const got = await fetchFleetBundle('http://fleet.invalid:8080/', { fetch: serving(200, first, seen) });
    expect(Buffer.from(got).equals(Buffer.from(first))).toBe(true);
    expect(seen).toEqual(['http://fleet.invalid:8080/v1/attestation']);
  });

  it('refuses a fleet that publishes no bundle, cannot be reached, or sends more than 1 MiB', async () => {
    const missing = await refusalOf(
      fetchFleetBundle('http://fleet.invalid', {
        fetch: serving(404, '{"error":{"code":"no-attestation","message":"no attestation published yet"}}'),
      }),
    );
    expect(missing.code).toBe('no-bundle');
    expect(missing.message).toMatch(/HTTP 404: the fleet has published no attestation/);
    const unreachable = await refusalOf(
      fetchFleetBundle('http://fleet.invalid', {
        fetch: async () => {
          throw new TypeError('fetch failed');
        },
      }),
    );
    expect(unreachable.code).toBe('no-bundle');
    const huge = await refusalOf(
      fetchFleetBundle('http://fleet.invalid', { fetch: serving(200, ' '.repeat(1024 * 1024 + 1)) }),
    );
    expect(huge.code).toBe('invalid-bundle');
  });
});

describe('connectAttestedFleet', () => {
  it('accepts the fleet’s bundle, records it, and refuses a later rollback to an older one', async () => {
    const store = newStore();
    const { accepted } = await connectAttestedFleet(options({ store, fetch: serving(200, second) }));
    expect(accepted.serial).toBe(2);
    expect(Buffer.from(store.load('vaults/backups') as Uint8Array).equals(Buffer.from(second))).toBe(true);
    const rollback = await refusalOf(connectAttestedFleet(options({ store, fetch: serving(200, first) })));
    expect(rollback.code).toBe('rollback');
    expect(Buffer.from(store.load('vaults/backups') as Uint8Array).equals(Buffer.from(second))).toBe(true);
    // A bundle given by the caller is checked the same way.
    expect((await refusalOf(connectAttestedFleet(options({ store, bundle: first })))).code).toBe('rollback');
  });

  it('refuses, and records nothing, when the bundle is missing or does not verify', async () => {
    const store = newStore();
    const missing = await refusalOf(connectAttestedFleet(options({ store, fetch: serving(404, '{}') })));
    expect(missing.code).toBe('no-bundle');
    const tampered = Buffer.from(second);
    const at = tampered.indexOf('"countersignature":{"payload":"') + 60;
    tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
    const invalid = await refusalOf(
      connectAttestedFleet(options({ store, bundle: new Uint8Array(tampered) })),
    );
    expect(invalid.code).toBe('invalid-bundle');
    expect(invalid.reasons[0]).toMatch(/^countersignature: /);
    expect(store.load('vaults/backups')).toBeUndefined();
  });

  it('refuses a response from a member the bundle does not list, and one without the attested HSM key', async () => {
    const calls: string[] = [];
    const answering =
      (member: string): Transport =>
      async (path) => {
        calls.push(path);
        return {
          status: 200,
          body: {
            member,
            ticket: Buffer.alloc(48, 1).toString('base64url'),
            registrationResponse: Buffer.alloc(64, 2).toString('base64url'),
            signature: Buffer.alloc(64, 3).toString('base64url'),
          },
        };
      };
    const stranger = await connectAttestedFleet(
      options({ bundle: second, transport: answering('backups-dc9') }),
    );
    const e = await refusalOf(stranger.client.register('alice', 'pw', new Uint8Array(32)));
    expect(e.code).toBe('member-not-in-bundle');
    expect(e.message).toMatch(
      /member "backups-dc9" answered \/v1\/escrow\/register\/start, but the fleet's attestation \(serial 2, sha256:[0-9a-f]{64}\) lists only backups-dc1, backups-dc2, backups-dc3/,
    );
    const impostor = await connectAttestedFleet(
      options({ bundle: second, transport: answering('backups-dc1') }),
    );
    await expect(impostor.client.register('alice', 'pw', new Uint8Array(32))).rejects.toMatchObject({
      name: 'BackupError',
      code: 'untrusted-response',
      message: "the response is not signed by member backups-dc1's HSM identity key",
    });
    expect(calls).toEqual(['/v1/escrow/register/start', '/v1/escrow/register/start']);
  });
});
