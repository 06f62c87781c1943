// verifyFleetBundle end to end on a real directory: a valid bundle verifies; expiry, rollback,
// forks, untrusted keys and inconsistent fleets fail with the reason that names the check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttestationFixture,
  hsmCertificateRequest,
  NOW,
} from '../../../test/integration/attestation/fixture.ts';
import { signFleetStatement } from './attest.ts';
import { decodeBundle, encodeBundle, type ValidationBundle } from './bundle.ts';
import { ed25519Signer } from './ed25519.ts';
import { buildFleetStatement, type FleetStatement } from './statement.ts';
import { type FleetVerification, verifyFleetBundle } from './verify.ts';

const f = new AttestationFixture();
const options = { now: NOW, maxClockSkewMs: 300_000 };
let first: Awaited<ReturnType<AttestationFixture['attest']>>;

beforeAll(async () => {
  first = await f.attest(f.input());
});
afterAll(() => f.close());

const verify = (
  bundle: ValidationBundle,
  o: Partial<typeof options> & { previous?: ValidationBundle } = {},
) => verifyFleetBundle(bundle, f.trust, { ...options, ...o });

function expectReason(r: FleetVerification, prefix: string): void {
  expect(r.valid).toBe(false);
  expect(
    r.reasons.some((x) => x.startsWith(prefix)),
    `${prefix} in ${JSON.stringify(r.reasons)}`,
  ).toBe(true);
}

describe('verifyFleetBundle', () => {
  it('accepts a bundle built, signed, countersigned and logged by the operator sequence', () => {
    const r = verify(decodeBundle(encodeBundle(first.bundle)));
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.directoryEpoch).toBe(1);
    expect(r.statement?.predicate.members.map((m) => m.id)).toEqual([
      'backups-dc1',
      'backups-dc2',
      'backups-dc3',
    ]);
    expect(r.verified.filter((v) => v.startsWith('member '))).toHaveLength(3);
  });

  it('fails an expired bundle, and one created in the future beyond the clock skew', () => {
    const expires = Date.parse(first.statement.predicate.expiresAt);
    expect(verify(first.bundle, { now: expires }).valid).toBe(true);
    expectReason(verify(first.bundle, { now: expires + 1 }), 'freshness: expiresAt: expired');
    const created = Date.parse(first.statement.predicate.createdAt);
    expectReason(verify(first.bundle, { now: created - 300_001 }), 'freshness: createdAt');
    expect(
      verify(first.bundle, { now: created - 300_000 }).reasons.filter((x) => x.startsWith('freshness')),
    ).toEqual([]);
  });

  it('fails without a directory inclusion proof: inclusion is never skipped', () => {
    const { directoryInclusion: _, ...rest } = first.bundle;
    expectReason(verify(rest), 'directory inclusion: not verified');
  });

  it('fails when signed by an untrusted operator, countersigned by an untrusted witness', () => {
    const mallory = ed25519Signer(new Uint8Array(32).fill(66));
    const envelope = signFleetStatement(first.statement, mallory);
    expectReason(
      verify({ ...first.bundle, envelope }),
      'envelope: operator signature: not signed by a trusted operator key',
    );
    const r = verifyFleetBundle(first.bundle, { ...f.trust, witnessKeys: [mallory.publicKey] }, options);
    expectReason(r, 'countersignature: witness signature: not signed by a trusted witness key');
  });

  it('fails when the countersignature is over another envelope', async () => {
    const other = await f.attest(f.input({ guessLimit: 9 }));
    expectReason(
      verify({ ...first.bundle, countersignature: other.bundle.countersignature }),
      'countersignature: envelopeDigest',
    );
    // and the directory logs the newer value now: the old bundle's proof still shows its epoch
    expect(verify(first.bundle).valid).toBe(true);
    expectReason(
      verify({ ...first.bundle, directoryInclusion: other.bundle.directoryInclusion }),
      'directory inclusion: value',
    );
  });

  it('detects a rollback to an older bundle and a fork at the same serial', async () => {
    const second = await f.next(first, { guessLimit: 5 });
    expect(verify(second.bundle, { previous: first.bundle }).reasons).toEqual([]);
    expect(verify(second.bundle, { previous: second.bundle }).valid).toBe(true);
    expectReason(
      verify(first.bundle, { previous: second.bundle }),
      'rollback: serial: 1 is older than the last seen serial 2',
    );
    const fork = await f.attest(f.input({ serial: 2, previousAttestationDigest: null, guessLimit: 7 }));
    expectReason(
      verify(fork.bundle, { previous: second.bundle }),
      'rollback: fork: serial 2 was already attested',
    );
    // serial 2 that does not chain to serial 1
    expectReason(verify(fork.bundle, { previous: first.bundle }), 'rollback: previousAttestationDigest');
  });

  it('checks the bundled previous envelope chains, and prints the diff', async () => {
    const second = await f.next(first, { members: f.members(3, 20), guessLimit: 5 });
    const r = verify(second.bundle);
    expect(r.reasons).toEqual([]);
    expect(r.changes).toContain('guess limit: 10 -> 5');
    expect(r.changes?.filter((c) => c.includes('re-keyed'))).toHaveLength(3);
    const wrongPrevious = { ...second.bundle, previous: { envelope: second.envelope } };
    expectReason(verify(wrongPrevious), 'chain: previousAttestationDigest');
  });

  it('fails a fleet whose quorum, zones or directory label do not add up, even when signed', () => {
    const base = first.statement;
    const resign = (predicate: Partial<FleetStatement['predicate']>) => {
      const statement = { ...base, predicate: { ...base.predicate, ...predicate } };
      return verify({ ...first.bundle, envelope: signFleetStatement(statement, f.operator) });
    };
    expectReason(resign({ quorum: 3 }), 'fleet: quorum: 3 is not a majority of 3 members');
    expectReason(resign({ zones: ['dc1', 'dc2', 'dc3', 'dc4'] }), 'fleet: zones: 4 zones for 3 members');
    const [m1, m2, m3] = base.predicate.members;
    expectReason(
      resign({ members: [m1!, { ...m2!, zone: 'dc1' }, m3!] }),
      'fleet: members: two members share a zone',
    );
    expectReason(resign({ members: [m1!, { ...m2!, zone: 'dc1' }, m3!] }), 'member backups-dc2: zone');
    expectReason(
      resign({ members: [m1!, { ...m2!, id: 'backups-dc9' }, m3!] }),
      'member backups-dc9: issued for member backups-dc2',
    );
    expectReason(
      resign({ members: [m1!, { ...m2!, identityKey: m1!.identityKey }, m3!] }),
      'member backups-dc2: identityKey',
    );
    expectReason(
      resign({ members: [m1!, { ...m2!, hsmKeyId: m1!.hsmKeyId }, m3!] }),
      'member backups-dc2: hsmKeyId',
    );
    expectReason(resign({ fleet: { ...base.predicate.fleet, name: 'other' } }), 'fleet: directory.label');
    expectReason(
      resign({ image: { ...base.predicate.image, digest: `sha256:${'cd'.repeat(32)}` } }),
      'digest: subject',
    );
  });

  it('refuses a last-seen bundle of another fleet, and member certificates that expired', async () => {
    const other = await f.attest(
      f.input({ fleet: { ...first.statement.predicate.fleet, uid: '11111111-2222-4333-8444-555555555555' } }),
    );
    expectReason(
      verify(first.bundle, { previous: other.bundle }),
      'rollback: fleet: the last seen bundle is for fleet',
    );
    const ca = f.ca;
    const members = f.members(3).map((m, i) =>
      i === 0
        ? {
            ...m,
            certificate: ca.issue(hsmCertificateRequest(10, 'vaults/backups', m.id, m.zone), {
              expect: { fleet: 'vaults/backups', member: m.id, zone: m.zone },
              notBefore: NOW / 1000 - 7200,
              notAfter: NOW / 1000 - 3600,
            }),
          }
        : m,
    );
    const expired = await f.attest(f.input({ members }));
    expectReason(verify(expired.bundle), 'member backups-dc1: expired at');
  });

  it('fails certificates from an untrusted manufacturer CA', () => {
    const r = verifyFleetBundle(
      first.bundle,
      { ...f.trust, manufacturerCaKeys: [f.operator.publicKey] },
      options,
    );
    expectReason(r, 'manufacturer CA: manufacturerCaPublicKey: is not a trusted manufacturer CA');
    expectReason(r, 'member backups-dc1: issued by a CA that is not in the trusted set');
  });

  it('the builder refuses input that would not decode', () => {
    expect(() => buildFleetStatement(f.input({ guessLimit: 0 }))).toThrow('predicate.guessLimit');
    expect(() => buildFleetStatement(f.input({ expiresAt: NOW - 120_000 }))).toThrow(
      'must be after createdAt',
    );
  });
});
