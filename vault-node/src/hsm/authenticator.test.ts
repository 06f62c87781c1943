import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { Purpose } from '@keyfleet/sdk/hsm/keys';
import { afterEach, describe, expect, it } from 'vitest';
import { HsmAuthenticator } from './authenticator.ts';
import { IDENTITY_SLOT } from './hsm.ts';
import { forgedCertificate, ONE_YEAR_S, provisionFleet, TEST_EPOCH_MS, type TestFleet } from './testing.ts';

let fleet: TestFleet | undefined;
afterEach(async () => {
  await fleet?.cleanup();
  fleet = undefined;
});

const body = new TextEncoder().encode('append entries digest');

describe('HsmAuthenticator (pairwise MACs between linked HSMs)', () => {
  it('a tag from a for b is accepted by b only: bound to sender, recipient and body', async () => {
    fleet = await provisionFleet(3, { distribute: false });
    const [a, b, c] = fleet.members.map((m) => ({ m, auth: new HsmAuthenticator(m.hsm) }));
    for (const x of [a!, b!, c!])
      for (const y of [a!, b!, c!]) if (x !== y) expect(x.auth.trust(y.m.certificate)).toBe(y.m.member);
    const [ida, idb, idc] = [a!.m.member, b!.m.member, c!.m.member];
    const tag = a!.auth.sign(ida, idb, body);
    expect(tag).toHaveLength(32);
    expect(b!.auth.verify(ida, idb, body, tag)).toBe(true);
    expect(b!.auth.verify(ida, idb, new TextEncoder().encode('append entries digesT'), tag)).toBe(false);
    expect(b!.auth.verify(ida, idb, body, tag.slice(1))).toBe(false);
    // c shares another key with a; a tag for b is not one for c, nor passes as c's own
    expect(c!.auth.verify(ida, idc, body, tag)).toBe(false);
    expect(b!.auth.verify(idc, idb, body, tag)).toBe(false);
    // reflected back to its sender as if b had sent it
    expect(a!.auth.verify(idb, ida, body, tag)).toBe(false);
    // addressed to b but checked by c
    expect(c!.auth.verify(ida, idb, body, tag)).toBe(false);
    expect(() => a!.auth.sign(idb, idc, body)).toThrow(/cannot sign as/);
    // a's identity-key signature over the same bytes is no tag
    expect(b!.auth.verify(ida, idb, body, a!.m.hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, body))).toBe(
      false,
    );
    b!.auth.forget(ida);
    expect(b!.auth.verify(ida, idb, body, tag)).toBe(false);
    expect(b!.m.hsm.isPeerLinked(ida)).toBe(false);
  });

  it('cannot make a tag for a member whose certificate it has not verified', async () => {
    fleet = await provisionFleet(2, { distribute: false });
    const [a, b] = fleet.members;
    const auth = new HsmAuthenticator(a!.hsm);
    expect(() => auth.sign(a!.member, b!.member, body)).toThrow(/no link to backups-dc2/);
    expect(new HsmAuthenticator(b!.hsm).verify(a!.member, b!.member, body, new Uint8Array(32))).toBe(false);
  });

  it('a certificate from another CA, or for another fleet, is never linked', async () => {
    fleet = await provisionFleet(1, { distribute: false });
    const a = fleet.members[0]!;
    const auth = new HsmAuthenticator(a.hsm);
    const rogue = CertificateAuthority.generate().ca;
    expect(() => auth.trust(forgedCertificate(rogue, fleet!.fleetId, 'backups-dc2'))).toThrow(
      /not in the trusted set/,
    );
    expect(() => auth.trust(forgedCertificate(fleet!.ca, 'vaults/other', 'backups-dc2'))).toThrow(/fleet/);
    expect(a.hsm.isPeerLinked('backups-dc2')).toBe(false);
    expect(auth.verify('backups-dc2', a.member, body, new Uint8Array(32))).toBe(false);
  });

  it('stops making and accepting tags once the peer certificate expires', async () => {
    let now = TEST_EPOCH_MS;
    fleet = await provisionFleet(2, { distribute: false, extra: { now: () => now } });
    const [a, b] = fleet.members;
    const authA = new HsmAuthenticator(a!.hsm);
    const authB = new HsmAuthenticator(b!.hsm);
    authA.trust(b!.certificate);
    authB.trust(a!.certificate);
    const tag = authA.sign(a!.member, b!.member, body);
    expect(authB.verify(a!.member, b!.member, body, tag)).toBe(true);
    now = TEST_EPOCH_MS + (ONE_YEAR_S + 1) * 1000;
    expect(authB.verify(a!.member, b!.member, body, tag)).toBe(false);
    expect(() => authA.sign(a!.member, b!.member, body)).toThrow(/expired/);
  });
});
