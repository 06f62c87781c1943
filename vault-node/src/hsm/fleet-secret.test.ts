import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import * as opaque from '@serenity-kit/opaque';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeEnvelope } from './fleet-secret.ts';
import { FLEET_SECRET_SLOT } from './hsm.ts';
import {
  forgedCertificate,
  provisionFleet,
  provisionMember,
  TEST_EPOCH_MS,
  type TestFleet,
} from './testing.ts';

let fleet: TestFleet | null = null;
afterEach(async () => {
  await fleet?.cleanup();
  fleet = null;
});
beforeAll(async () => {
  await opaque.ready;
});

describe('fleet secret distribution', () => {
  it('delivers the OPAQUE setup to every member: same OPAQUE key, and it works across members', async () => {
    fleet = await provisionFleet(3);
    const [a, b, c] = fleet.members;
    const keys = fleet.members.map((m) => m.hsm.publicKey(FLEET_SECRET_SLOT));
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    // A registration answered by one member, a login on another.
    const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({
      password: 'pw',
    });
    const reg = a!.hsm.opaqueRegistrationResponse(
      FLEET_SECRET_SLOT,
      'alice',
      new Uint8Array(Buffer.from(registrationRequest, 'base64url')),
    );
    const nonce = b!.hsm.opaqueCheckTicket(FLEET_SECRET_SLOT, 'alice', reg.ticket);
    expect(nonce).not.toBeNull();
    expect(c!.hsm.opaqueCheckTicket(FLEET_SECRET_SLOT, 'bob', reg.ticket)).toBeNull();
    expect(clientRegistrationState).toBeTypeOf('string');
    // Keys derived from the fleet secret agree across members.
    await b!.hsm.derive(FLEET_SECRET_SLOT, 'shared/v1', 'shared');
    await c!.hsm.derive(FLEET_SECRET_SLOT, 'shared/v1', 'shared');
    const wrapped = b!.hsm.wrap('shared', new Uint8Array([1, 2]));
    expect(c!.hsm.unwrap('shared', wrapped)).toEqual(new Uint8Array([1, 2]));
  });

  it('is never sent to a member whose certificate does not chain to the trusted CA', async () => {
    fleet = await provisionFleet(1, { distribute: false });
    const a = fleet.members[0]!;
    await a.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    // A real HSM, certified by a rogue CA.
    const rogue = CertificateAuthority.generate().ca;
    const mallory = await provisionMember(rogue, fleet.fleetId, 'backups-dc6', 'dc6', fleet.scratch);
    fleet.members.push(mallory);
    expect(() => a.hsm.exportFleetSecret(FLEET_SECRET_SLOT, mallory.certificate)).toThrow(
      /not in the trusted set/,
    );
    // Its certificate edited to claim the trusted CA's key id: the signature fails.
    const claimed = mallory.certificate.slice();
    const realCertOfA = decodeCertificate(a.certificate);
    claimed.set(realCertOfA.issuerKeyId, claimed.length - 96);
    expect(() => a.hsm.exportFleetSecret(FLEET_SECRET_SLOT, claimed)).toThrow(/CA signature/);
    // A genuine certificate, but for another fleet, or expired, or for the sender itself.
    expect(() =>
      a.hsm.exportFleetSecret(FLEET_SECRET_SLOT, forgedCertificate(fleet!.ca, 'vaults/other', 'backups-dc6')),
    ).toThrow(/fleet/);
    expect(() =>
      a.hsm.exportFleetSecret(
        FLEET_SECRET_SLOT,
        forgedCertificate(fleet!.ca, fleet!.fleetId, 'backups-dc6', Math.floor(TEST_EPOCH_MS / 1000) - 1),
      ),
    ).toThrow(/expired/);
    expect(() => a.hsm.exportFleetSecret(FLEET_SECRET_SLOT, a.certificate)).toThrow(/this member itself/);
    // Nothing was exported, and each refusal is an audit entry of its own.
    await a.hsm.flush();
    const exports = readFileSync(join(a.dir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; detail: string })
      .filter((e) => e.op === 'export-fleet-secret')
      .map((e) => e.detail);
    expect(exports).toEqual(['refused', 'refused', 'refused', 'refused', 'refused']);
  });

  it('an envelope opens only at its recipient', async () => {
    fleet = await provisionFleet(3, { distribute: false });
    const [a, b, c] = fleet.members;
    await a!.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    const forB = a!.hsm.exportFleetSecret(FLEET_SECRET_SLOT, b!.certificate);
    await expect(c!.hsm.importFleetSecret(FLEET_SECRET_SLOT, forB)).rejects.toThrow(/for member backups-dc2/);
    // Rewriting the recipient breaks the sender's signature.
    const e = decodeEnvelope(forB);
    const at = 1 + 1 + e.fleet.length + 1 + e.sender.length + 1;
    const rerouted = forB.slice();
    rerouted.set(new TextEncoder().encode(c!.member), at);
    await expect(c!.hsm.importFleetSecret(FLEET_SECRET_SLOT, rerouted)).rejects.toThrow(/not signed/);
    // Any single-bit change of the envelope is refused.
    for (let i = 0; i < forB.length; i += 7) {
      const m = forB.slice();
      m[i]! ^= 0x10;
      await expect(b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, m), `byte ${i}`).rejects.toThrow();
    }
    await b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, forB);
    expect(b!.hsm.publicKey(FLEET_SECRET_SLOT)).toEqual(a!.hsm.publicKey(FLEET_SECRET_SLOT));
    // Imported once; the slot is never overwritten.
    await expect(b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, forB)).rejects.toThrow(/never overwritten/);
  });

  it('refuses an envelope whose sender is not certified, or a secret other than the expected one', async () => {
    fleet = await provisionFleet(2, { distribute: false });
    const [a, b] = fleet.members;
    await a!.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    const rogue = CertificateAuthority.generate().ca;
    const mallory = await provisionMember(rogue, fleet.fleetId, 'backups-dc6', 'dc6', fleet.scratch, {
      trustAnchors: [rogue.publicKey, fleet.ca.publicKey],
    });
    fleet.members.push(mallory);
    await mallory.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    // Mallory trusts her own CA and ours, so she can build an envelope for b; b does not accept it.
    const fromMallory = mallory.hsm.exportFleetSecret(FLEET_SECRET_SLOT, b!.certificate);
    await expect(b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, fromMallory)).rejects.toThrow(
      /not in the trusted set/,
    );
    const genuine = a!.hsm.exportFleetSecret(FLEET_SECRET_SLOT, b!.certificate);
    await expect(
      b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, genuine, mallory.hsm.publicKey(FLEET_SECRET_SLOT)),
    ).rejects.toThrow(/expected OPAQUE public key/);
    await b!.hsm.importFleetSecret(FLEET_SECRET_SLOT, genuine, a!.hsm.publicKey(FLEET_SECRET_SLOT));
  });
});
