import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import {
  certificateRequestTbs,
  decodeCertificate,
  encodeCertificateRequest,
} from '@keyfleet/sdk/hsm/certificate';
import { Purpose, rawPublicKey, signWithPurpose } from '@keyfleet/sdk/hsm/keys';
import * as opaque from '@serenity-kit/opaque';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HsmAuthenticator } from './authenticator.ts';
import { decodeEnvelope } from './fleet-secret.ts';
import { FLEET_SECRET_SLOT, IDENTITY_SLOT } from './hsm.ts';
import { ONE_YEAR_S, provisionFleet, provisionMember, TEST_EPOCH_MS, type TestFleet } from './testing.ts';

let fleet: TestFleet | null = null;
afterEach(async () => {
  await fleet?.cleanup();
  fleet = null;
});
beforeAll(async () => {
  await opaque.ready;
});

const NOW_S = Math.floor(TEST_EPOCH_MS / 1000);

/** A certificate the test forges for `member` under `ca` for keys nobody's HSM holds. */
function forgedCertificate(
  ca: CertificateAuthority,
  fleetId: string,
  member: string,
  notAfter = NOW_S + 1000,
) {
  const identity = generateKeyPairSync('ed25519').privateKey;
  const request = {
    subject: { fleet: fleetId, member, zone: 'dc9' },
    identityPublicKey: rawPublicKey(identity),
    agreementPublicKey: rawPublicKey(generateKeyPairSync('x25519').privateKey),
  };
  const csr = encodeCertificateRequest(
    request,
    signWithPurpose(identity, Purpose.certificateRequest, certificateRequestTbs(request)),
  );
  return ca.issue(csr, { expect: request.subject, notBefore: NOW_S - 10, notAfter });
}

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
        forgedCertificate(fleet!.ca, fleet!.fleetId, 'backups-dc6', NOW_S - 1),
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

describe('HsmAuthenticator (Raft peer authentication)', () => {
  it('accepts messages of certified members only, bound to the sender and the body', async () => {
    fleet = await provisionFleet(2, { distribute: false });
    const [a, b] = fleet.members;
    const now = () => TEST_EPOCH_MS;
    const authA = new HsmAuthenticator(a!.hsm, { trustAnchors: [fleet.ca.publicKey], now });
    const authB = new HsmAuthenticator(b!.hsm, { trustAnchors: [fleet.ca.publicKey], now });
    expect(authB.trust(a!.certificate)).toBe(a!.member);
    const body = new TextEncoder().encode('append entries');
    const sig = await authA.sign(a!.member, body);
    expect(authB.verify(a!.member, body, sig)).toBe(true);
    expect(authB.verify(a!.member, new TextEncoder().encode('append entrieS'), sig)).toBe(false);
    expect(authB.verify(b!.member, body, sig)).toBe(false); // not trusted as b, and bound to a
    expect(() => authA.sign(b!.member, body)).toThrow(/cannot sign as/);
    // A signature by a's identity key for another purpose is not a Raft message signature.
    const attest = a!.hsm.attest(IDENTITY_SLOT);
    expect(authB.verify(a!.member, attest.subarray(0, attest.length - 64), attest.subarray(-64))).toBe(false);
    authB.forget(a!.member);
    expect(authB.verify(a!.member, body, sig)).toBe(false);
  });

  it('a forged peer that knows every member id cannot get trusted or be believed', async () => {
    fleet = await provisionFleet(1, { distribute: false });
    const a = fleet.members[0]!;
    const auth = new HsmAuthenticator(a.hsm, {
      trustAnchors: [fleet.ca.publicKey],
      now: () => TEST_EPOCH_MS,
    });
    const rogue = CertificateAuthority.generate().ca;
    const forged = forgedCertificate(rogue, fleet.fleetId, 'backups-dc2');
    expect(() => auth.trust(forged)).toThrow(/not in the trusted set/);
    const key = generateKeyPairSync('ed25519').privateKey;
    const body = new Uint8Array([1]);
    const sig = signWithPurpose(key, Purpose.raftMessage, body);
    expect(auth.verify('backups-dc2', body, sig)).toBe(false);
  });

  it('stops believing a member once its certificate expires', async () => {
    fleet = await provisionFleet(2, { distribute: false });
    const [a, b] = fleet.members;
    let now = TEST_EPOCH_MS;
    const auth = new HsmAuthenticator(b!.hsm, { trustAnchors: [fleet.ca.publicKey], now: () => now });
    auth.trust(a!.certificate);
    const body = new Uint8Array([1]);
    const sig = new HsmAuthenticator(a!.hsm, { trustAnchors: [] }).sign(a!.member, body);
    expect(auth.verify(a!.member, body, sig)).toBe(true);
    now = TEST_EPOCH_MS + (ONE_YEAR_S + 1) * 1000;
    expect(auth.verify(a!.member, body, sig)).toBe(false);
  });
});
