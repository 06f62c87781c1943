import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { verifySlotAttestation } from '@keyfleet/sdk/hsm/attestation';
import { base64url, toHex } from '@keyfleet/sdk/hsm/bytes';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import { ed25519PrivateKey, Purpose, verifyWithPurpose } from '@keyfleet/sdk/hsm/keys';
import * as opaque from '@serenity-kit/opaque';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from './audit-log.ts';
import { sealEnvelope } from './fleet-secret.ts';
import { AGREEMENT_SLOT, FLEET_SECRET_SLOT, IDENTITY_SLOT, SoftwareHsm } from './hsm.ts';
import { openSlot, readSealingKey, SealedSlotError } from './sealed-slot.ts';
import { provisionFleet, provisionMember, type TestFleet, writeWrappingKey } from './testing.ts';

let fleet: TestFleet | null = null;
afterEach(async () => {
  await fleet?.cleanup();
  fleet = null;
});

beforeAll(async () => {
  await opaque.ready;
});

async function oneMember(distribute = false) {
  fleet = await provisionFleet(1, { distribute });
  return { fleet, m: fleet.members[0]! };
}

describe('the HSM surface', () => {
  it('exposes exactly these operations, and no field', async () => {
    const { m } = await oneMember();
    expect(Object.getOwnPropertyNames(SoftwareHsm.prototype).sort()).toEqual(
      [
        'constructor',
        'slots',
        'generate',
        'publicKey',
        'sign',
        'derive',
        'wrap',
        'unwrap',
        'attest',
        'auditHead',
        'certificateRequest',
        'installCertificate',
        'certificate',
        'linkPeer',
        'unlinkPeer',
        'isPeerLinked',
        'peerMac',
        'verifyPeerMac',
        'exportFleetSecret',
        'importFleetSecret',
        'opaqueRegistrationResponse',
        'opaqueCheckTicket',
        'recordCommittedAttempt',
        'opaqueStartLogin',
        'opaqueFinishLogin',
        'escrowSealUpload',
        'escrowRelease',
        'escrowAuthorizeDelete',
        'escrowAuthorizeReplace',
        'escrowAcknowledge',
        'flush',
        'close',
      ].sort(),
    );
    expect(Object.getOwnPropertyNames(SoftwareHsm).sort()).toEqual(['length', 'name', 'open', 'prototype']);
    // Own properties: the two ids, nothing else; keys live in #private fields.
    expect(Object.keys(m.hsm).sort()).toEqual(['fleetId', 'memberId']);
    expect(Reflect.ownKeys(m.hsm).sort()).toEqual(['fleetId', 'memberId']);
    expect(JSON.stringify(m.hsm)).toBe(JSON.stringify({ fleetId: m.hsm.fleetId, memberId: m.hsm.memberId }));
  });

  it('never shows the fleet secret: not in results, files, the audit log, or inspection', async () => {
    const { fleet: f, m } = await oneMember();
    // A known ServerSetup, delivered the way a peer would (so the test knows what to look for).
    const setup = new Uint8Array(Buffer.from(opaque.server.createSetup(), 'base64url'));
    const sender = await provisionMember(f.ca, f.fleetId, 'backups-dc9', 'dc9', f.scratch);
    f.members.push(sender);
    const envelope = sendKnownSecret(f, sender, m.certificate, setup);
    await m.hsm.importFleetSecret(FLEET_SECRET_SLOT, envelope);
    await m.hsm.generate('aux', 'symmetric');

    const needles = [toHex(setup), base64url(setup), Buffer.from(setup).toString('base64')];
    const haystacks: string[] = [];
    const collect = (v: unknown) =>
      haystacks.push(typeof v === 'string' ? v : inspect(v, { depth: 10, showHidden: true }));
    collect(m.hsm);
    collect(m.hsm.slots());
    collect(m.hsm.attest(FLEET_SECRET_SLOT));
    collect(m.hsm.publicKey(FLEET_SECRET_SLOT));
    collect(m.hsm.wrap('aux', new Uint8Array([1])));
    collect(m.hsm.opaqueRegistrationResponse(FLEET_SECRET_SLOT, 'alice', registrationRequest()));
    await m.hsm.flush();
    for (const dir of [m.dir, join(m.dir, 'slots')]) {
      for (const f of readdirSync(dir, { withFileTypes: true })) {
        if (f.isFile())
          collect(
            readFileSync(join(dir, f.name)).toString('latin1') + toHex(readFileSync(join(dir, f.name))),
          );
      }
    }
    for (const h of haystacks) for (const n of needles) expect(h.includes(n)).toBe(false);
    // The setup itself is there (so the search could have found it): its public key matches.
    expect(m.hsm.publicKey(FLEET_SECRET_SLOT)).toEqual(
      new Uint8Array(Buffer.from(opaque.server.getPublicKey(base64url(setup)), 'base64url')),
    );
  });

  it('signs only external purposes; reserved ones are built by their own operations', async () => {
    const { m } = await oneMember();
    const msg = new Uint8Array([1, 2, 3]);
    const sig = m.hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, msg);
    expect(verifyWithPurpose(m.hsm.publicKey(IDENTITY_SLOT), Purpose.raftMessage, msg, sig)).toBe(true);
    for (const p of Object.values(Purpose)) {
      if (p !== Purpose.raftMessage) expect(() => m.hsm.sign(IDENTITY_SLOT, p, msg)).toThrow(/reserved/);
    }
    expect(() => m.hsm.sign(AGREEMENT_SLOT, Purpose.raftMessage, msg)).toThrow(/x25519/);
  });

  it('wraps and unwraps under a slot, bound to the associated data', async () => {
    const { m } = await oneMember();
    await m.hsm.generate('data', 'symmetric');
    const ad = new Uint8Array([9]);
    const w = m.hsm.wrap('data', new TextEncoder().encode('secret'), ad);
    expect(new TextDecoder().decode(m.hsm.unwrap('data', w, ad))).toBe('secret');
    expect(() => m.hsm.unwrap('data', w)).toThrow(/unwrap failed/);
    const flipped = w.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(() => m.hsm.unwrap('data', flipped, ad)).toThrow(/unwrap failed/);
    await m.hsm.generate('other', 'symmetric');
    expect(() => m.hsm.unwrap('other', w, ad)).toThrow(/unwrap failed/);
    expect(() => m.hsm.wrap(IDENTITY_SLOT, ad)).toThrow(/not symmetric/);
  });

  it('derives into new symmetric slots and never overwrites a slot', async () => {
    const { m } = await oneMember();
    await m.hsm.generate('root', 'symmetric');
    await m.hsm.derive('root', 'backup/v1', 'k1');
    await m.hsm.derive('root', 'backup/v1', 'k2');
    await m.hsm.derive('root', 'other', 'k3');
    expect(m.hsm.unwrap('k1', m.hsm.wrap('k1', new Uint8Array([1])))).toEqual(new Uint8Array([1]));
    await expect(m.hsm.generate('k1', 'symmetric')).rejects.toThrow(/never overwritten/);
    await expect(m.hsm.derive(IDENTITY_SLOT, 'x', 'k4')).rejects.toThrow(/only symmetric/);
    await expect(m.hsm.derive('root', 'Bad Label', 'k5')).rejects.toThrow(/derivation label/);
    expect(m.hsm.slots().map((s) => s.name)).toEqual([
      AGREEMENT_SLOT,
      IDENTITY_SLOT,
      'k1',
      'k2',
      'k3',
      'root',
    ]);
  });

  it("attests a slot's public key under its certified identity", async () => {
    const { m } = await oneMember();
    const nonce = new Uint8Array([7, 7, 7]);
    const statement = verifySlotAttestation(
      m.hsm.attest(AGREEMENT_SLOT, nonce),
      m.hsm.publicKey(IDENTITY_SLOT),
    );
    expect(statement).toMatchObject({
      fleet: m.hsm.fleetId,
      member: m.member,
      slot: AGREEMENT_SLOT,
      kind: 'x25519',
    });
    expect(statement.publicKey).toEqual(m.hsm.publicKey(AGREEMENT_SLOT));
    expect(statement.nonce).toEqual(nonce);
    const other = await provisionMember(fleet!.ca, fleet!.fleetId, 'backups-dc8', 'dc8', fleet!.scratch);
    fleet!.members.push(other);
    expect(() =>
      verifySlotAttestation(m.hsm.attest(AGREEMENT_SLOT), other.hsm.publicKey(IDENTITY_SLOT)),
    ).toThrow(/not signed/);
  });
});

describe('keys at rest', () => {
  it('survive a restart: same public keys, wrapped data still opens, certificate reloaded', async () => {
    const { m } = await oneMember();
    await m.hsm.generate('data', 'symmetric');
    const w = m.hsm.wrap('data', new Uint8Array([42]));
    const before = m.hsm.slots();
    await m.hsm.close();
    m.hsm = await SoftwareHsm.open(m.options);
    expect(m.hsm.slots()).toEqual(before);
    expect(m.hsm.unwrap('data', w)).toEqual(new Uint8Array([42]));
    expect(m.hsm.certificate()).toEqual(m.certificate);
    expect(readdirSync(join(m.dir, 'slots')).sort()).toEqual([
      'agreement.slot',
      'data.slot',
      'identity.slot',
    ]);
  });

  it('a sealed key file moved to another member does not open there, even under the same wrapping key', async () => {
    fleet = await provisionFleet(2, { distribute: false });
    const [a, b] = fleet.members as [
      NonNullable<TestFleet['members'][0]>,
      NonNullable<TestFleet['members'][0]>,
    ];
    await a.hsm.generate('moved', 'symmetric');
    await b.hsm.close();
    // Same wrapping key for both, so only the binding to fleet and member can refuse it.
    copyFileSync(a.wrappingKeyFile, b.wrappingKeyFile);
    await expect(SoftwareHsm.open(b.options)).rejects.toThrow(SealedSlotError); // b's own slots now fail too
    const fresh = join(fleet.scratch, 'fresh-b');
    mkdirSync(join(fresh, 'slots'), { recursive: true });
    copyFileSync(join(a.dir, 'slots', 'moved.slot'), join(fresh, 'slots', 'moved.slot'));
    await expect(SoftwareHsm.open({ ...b.options, dir: fresh })).rejects.toThrow(/authentication failed/);
    // The same file opens for its own member.
    const own = join(fleet.scratch, 'own-a');
    mkdirSync(join(own, 'slots'), { recursive: true });
    copyFileSync(join(a.dir, 'slots', 'moved.slot'), join(own, 'slots', 'moved.slot'));
    const reopened = await SoftwareHsm.open({ ...a.options, dir: own });
    expect(reopened.slots().map((s) => s.name)).toEqual(['moved']);
    await reopened.close();
    b.hsm = await SoftwareHsm.open({ ...b.options, dir: join(fleet.scratch, 'empty-b') });
  });

  it('a sealed key file does not open for another fleet, under another slot name, or another wrapping key', async () => {
    const { fleet: f, m } = await oneMember();
    await m.hsm.generate('k', 'symmetric');
    await m.hsm.close();
    const copy = (name: string) => {
      const dir = join(f.scratch, `copy-${name}`);
      mkdirSync(join(dir, 'slots'), { recursive: true });
      copyFileSync(join(m.dir, 'slots', 'k.slot'), join(dir, 'slots', `${name}.slot`));
      return dir;
    };
    await expect(SoftwareHsm.open({ ...m.options, dir: copy('k'), fleetId: 'vaults/other' })).rejects.toThrow(
      /authentication failed/,
    );
    await expect(SoftwareHsm.open({ ...m.options, dir: copy('renamed') })).rejects.toThrow(
      /authentication failed/,
    );
    const otherKey = writeWrappingKey(join(f.scratch, 'copy-k'));
    await expect(
      SoftwareHsm.open({ ...m.options, dir: copy('k'), wrappingKeyFile: otherKey }),
    ).rejects.toThrow(/authentication failed/);
    // Any byte of the file changed: refused.
    const file = readFileSync(join(m.dir, 'slots', 'k.slot'));
    for (let i = 0; i < file.length; i++) {
      const dir = copy('k');
      const bad = Buffer.from(file);
      bad[i]! ^= 0x01;
      writeFileSync(join(dir, 'slots', 'k.slot'), bad);
      await expect(SoftwareHsm.open({ ...m.options, dir })).rejects.toThrow(SealedSlotError);
    }
    m.hsm = await SoftwareHsm.open(m.options);
  });

  it('refuses a wrapping key file that is not exactly 32 bytes', async () => {
    const { fleet: f, m } = await oneMember();
    const path = join(f.scratch, 'short.key');
    writeFileSync(path, 'c2VjcmV0\n');
    await expect(
      SoftwareHsm.open({ ...m.options, dir: join(f.scratch, 'x'), wrappingKeyFile: path }),
    ).rejects.toThrow(/exactly 32 raw bytes/);
  });

  it('refuses a certificate that is not for its keys, or from an untrusted CA', async () => {
    const { fleet: f, m } = await oneMember();
    const other = await provisionMember(f.ca, f.fleetId, 'backups-dc7', 'dc7', f.scratch);
    f.members.push(other);
    await expect(m.hsm.installCertificate(other.certificate)).rejects.toThrow(/issued for member/);
    const rogue = CertificateAuthority.generate().ca;
    const rogueCert = rogue.issue(m.hsm.certificateRequest('dc1'), {
      expect: { fleet: f.fleetId, member: m.member, zone: 'dc1' },
      notBefore: 0,
      notAfter: 2 ** 40,
    });
    await expect(m.hsm.installCertificate(rogueCert)).rejects.toThrow(/not in the trusted set/);
  });
});

describe('the audit log of a working HSM', () => {
  it('records every key operation, chains across restarts, and its checkpoints verify', async () => {
    const { m } = await oneMember();
    await m.hsm.generate('data', 'symmetric');
    m.hsm.wrap('data', new Uint8Array([1]));
    m.hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, new Uint8Array([1]));
    await m.hsm.close();
    m.hsm = await SoftwareHsm.open(m.options);
    m.hsm.attest(IDENTITY_SLOT);
    await m.hsm.close();
    const text = readFileSync(join(m.dir, 'audit.log'), 'utf8');
    const ops = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).op);
    expect(ops).toEqual([
      'open',
      'generate',
      'generate',
      'certificate-request',
      'install-certificate',
      'generate',
      'wrap',
      'close',
      'usage', // the signature, counted (audit-log.ts: routine signatures are summarised)
      'checkpoint',
      'open',
      'attest',
      'close',
      'checkpoint',
    ]);
    m.hsm = await SoftwareHsm.open(m.options);
    const identity = m.hsm.publicKey(IDENTITY_SLOT);
    const v = verifyAuditLog(text, { fleet: m.hsm.fleetId, member: m.member, identityPublicKey: identity });
    expect(v).toMatchObject({ ok: true, entries: 14, checkpoints: 2, lastCheckpoint: 14 });
  });

  it('refuses to open when the audit log was edited', async () => {
    const { m } = await oneMember();
    await m.hsm.close();
    const path = join(m.dir, 'audit.log');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('"op":"generate"', '"op":"generat3"'));
    await expect(SoftwareHsm.open(m.options)).rejects.toThrow(/refusing to continue the log/);
    writeFileSync(path, text);
    m.hsm = await SoftwareHsm.open(m.options);
  });

  it('cuts a torn last line and says so in the log', async () => {
    const { m } = await oneMember();
    await m.hsm.close();
    const path = join(m.dir, 'audit.log');
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"seq":99,"ti`);
    m.hsm = await SoftwareHsm.open(m.options);
    await m.hsm.flush();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-2)!)).toMatchObject({ op: 'truncate-torn-tail', detail: 'bytes=13' });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ op: 'open' });
  });
});

describe('restart hygiene', () => {
  it('removes leftover temporary files and refuses unknown files in the slot directory', async () => {
    const { m } = await oneMember();
    await m.hsm.close();
    writeFileSync(join(m.dir, 'slots', 'x.slot.tmp'), 'partial');
    m.hsm = await SoftwareHsm.open(m.options);
    expect(readdirSync(join(m.dir, 'slots'))).not.toContain('x.slot.tmp');
    await m.hsm.close();
    renameSync(join(m.dir, 'slots', 'agreement.slot'), join(m.dir, 'slots', 'Agreement.key'));
    await expect(SoftwareHsm.open(m.options)).rejects.toThrow(/unexpected file/);
    renameSync(join(m.dir, 'slots', 'Agreement.key'), join(m.dir, 'slots', 'agreement.slot'));
    m.hsm = await SoftwareHsm.open(m.options);
  });
});

function registrationRequest(): Uint8Array {
  const { registrationRequest } = opaque.client.startRegistration({ password: 'pw' });
  return new Uint8Array(Buffer.from(registrationRequest, 'base64url'));
}

/** An envelope carrying a setup the test chose, from a certified member (test-only path). */
function sendKnownSecret(
  f: TestFleet,
  sender: TestFleet['members'][0],
  recipientCertificate: Uint8Array,
  setup: Uint8Array,
): Uint8Array {
  const identitySeed = readIdentitySeedForTest(sender!);
  return sealEnvelope({
    fleet: f.fleetId,
    sender: sender!.member,
    recipient: decodeCertificate(recipientCertificate).subject.member,
    senderIdentity: ed25519PrivateKey(identitySeed),
    senderCertificate: sender!.certificate,
    recipientAgreementKey: decodeCertificate(recipientCertificate).agreementPublicKey,
    secret: setup,
    nonce: new Uint8Array(24).fill(5),
  });
}

/** Only a test can do this: it unseals the file itself with the wrapping key it wrote. */
function readIdentitySeedForTest(m: NonNullable<TestFleet['members'][0]>): Uint8Array {
  const file = readFileSync(join(m.dir, 'slots', 'identity.slot'));
  const binding = { fleet: m.options.fleetId, member: m.member, slot: IDENTITY_SLOT };
  return openSlot(readSealingKey(m.wrappingKeyFile), binding, file).secret;
}
