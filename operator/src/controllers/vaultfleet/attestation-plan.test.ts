// The attestation decisions: what changed, when to renew, and which step each state of the durable
// record calls for, including every state a crash can leave behind.
import { bundleFor, signFleetStatement } from '@keyfleet/sdk/attestation/attest';
import { countersign, envelopeDigest, formatDigest } from '@keyfleet/sdk/attestation/dsse';
import { ed25519Signer } from '@keyfleet/sdk/attestation/ed25519';
import { buildFleetStatement } from '@keyfleet/sdk/attestation/statement';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { describe, expect, it } from 'vitest';
import { hsmCertificateRequest } from '../../../../test/integration/attestation/fixture.ts';
import type { AttestedDeployment } from './attestation-inputs.ts';
import {
  type AttestationRecord,
  attestationChange,
  attestationRecordData,
  type FleetFacts,
  nextAttestationStep,
  parseValidity,
  previousEnvelopeFor,
  readAttestationRecord,
} from './attestation-plan.ts';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-23T12:00:00Z');
const ca = CertificateAuthority.fromSeed(new Uint8Array(32).fill(1));
const operator = ed25519Signer(new Uint8Array(32).fill(2));
const witness = ed25519Signer(new Uint8Array(32).fill(3));
const FLEET = { namespace: 'vaults', name: 'backups', uid: '0f8e6c1a-3b7d-4e2f-9a51-6c0d2b7e8f13' };

const member = (n: number, zone: string) => {
  const id = `backups-${zone}`;
  const certificate = ca.issue(hsmCertificateRequest(n, 'vaults/backups', id, zone), {
    expect: { fleet: 'vaults/backups', member: id, zone },
    notBefore: 0,
    notAfter: 4_000_000_000,
  });
  return { id, zone, certificate };
};

const deployment = (o: Partial<AttestedDeployment> = {}): AttestedDeployment => {
  const members = o.members ?? [member(10, 'dc1'), member(11, 'dc2'), member(12, 'dc3')];
  return {
    members,
    zones: members.map((m) => m.zone),
    image: { ref: 'reg/vault:1.0', digest: `sha256:${'ab'.repeat(32)}` },
    guessLimit: 10,
    opaqueServerPublicKey: new Uint8Array(32).fill(6),
    manufacturerCaPublicKey: ca.publicKey,
    directory: { namespace: 'vaults', name: 'keys' },
    ...o,
  };
};

const facts = (o: Partial<FleetFacts> = {}): FleetFacts => ({
  fleet: FLEET,
  generation: 3,
  nowMs: NOW,
  validityMs: 720 * HOUR,
  ...o,
});

/** The statement nextAttestationStep asks to sign, signed. */
function signed(record: AttestationRecord, d = deployment(), f = facts()) {
  const step = nextAttestationStep(record, d, f);
  if (step.kind !== 'sign') throw new Error(`expected sign, got ${step.kind}`);
  const statement = buildFleetStatement(step.input);
  return { step, statement, envelope: signFleetStatement(statement, operator) };
}

/** A published record for the attestation `s` (its lookup proof is left out: not needed here). */
function published(
  s: ReturnType<typeof signed>,
  previous?: AttestationRecord['published'],
): AttestationRecord {
  const cs = countersign(s.envelope, witness, NOW);
  const bundle = bundleFor(s.envelope, cs, undefined, previous?.bundle.envelope);
  return readAttestationRecord(attestationRecordData(bundle, undefined));
}

describe('parseValidity', () => {
  it('reads Go durations of hours, minutes and seconds between 1h and 8760h', () => {
    expect(parseValidity('720h')).toBe(720 * HOUR);
    expect(parseValidity('1h30m')).toBe(1.5 * HOUR);
    expect(parseValidity('3600s')).toBe(HOUR);
    expect(parseValidity('8760h')).toBe(8760 * HOUR);
    for (const bad of ['', '59m', '8761h', '1d', '-1h', '1.5h', 'h', '720'])
      expect(parseValidity(bad)).toBeUndefined();
  });
});

describe('attestationChange', () => {
  const first = signed({});
  const stmt = first.statement;
  it('names the first attestation and each change that matters to clients', () => {
    expect(attestationChange(undefined, deployment(), NOW, 720 * HOUR)?.reason).toBe('FirstAttestation');
    expect(attestationChange(stmt, deployment(), NOW, 720 * HOUR)).toBeNull();
    const d = deployment();
    const cases: Array<[Partial<AttestedDeployment>, string]> = [
      [{ members: [member(10, 'dc1'), member(11, 'dc2')] }, 'MembersChanged'],
      [{ members: [member(10, 'dc1'), member(11, 'dc2'), member(99, 'dc3')] }, 'HsmKeysChanged'],
      [{ image: { ref: 'reg/vault:1.1', digest: d.image.digest } }, 'ImageChanged'],
      [{ image: { ref: d.image.ref, digest: `sha256:${'cd'.repeat(32)}` } }, 'ImageChanged'],
      [{ guessLimit: 5 }, 'GuessLimitChanged'],
      [{ opaqueServerPublicKey: new Uint8Array(32).fill(7) }, 'OpaqueServerKeyChanged'],
      [{ manufacturerCaPublicKey: new Uint8Array(32).fill(8) }, 'ManufacturerCaChanged'],
      [{ directory: { namespace: 'vaults', name: 'other' } }, 'DirectoryChanged'],
    ];
    for (const [o, reason] of cases)
      expect(attestationChange(stmt, deployment(o), NOW, 720 * HOUR)?.reason).toBe(reason);
  });

  it('renews once less than a quarter of the validity is left, not before', () => {
    const expires = Date.parse(stmt.predicate.expiresAt);
    expect(attestationChange(stmt, deployment(), expires - 180 * HOUR - 1000, 720 * HOUR)).toBeNull();
    expect(attestationChange(stmt, deployment(), expires - 180 * HOUR, 720 * HOUR)?.reason).toBe('Renewal');
  });
});

describe('nextAttestationStep: the record after every possible crash', () => {
  it('a fleet never attested: serial 1, no previous, valid for spec.attestation.validity', () => {
    const { step } = signed({});
    expect(step.input.serial).toBe(1);
    expect(step.input.previousAttestationDigest).toBeNull();
    expect(step.input.createdAt).toBe(NOW);
    expect(step.input.expiresAt).toBe(NOW + 720 * HOUR);
    expect(step.input.generation).toBe(3);
  });

  it('crash after the pending envelope was stored: that same envelope goes to the witness, whatever changed', () => {
    const s = signed({});
    const record = readAttestationRecord(attestationRecordData(undefined, { envelope: s.envelope }));
    for (const d of [
      deployment(),
      deployment({ guessLimit: 3 }),
      { reason: 'MembershipChanging', message: '' },
    ]) {
      const step = nextAttestationStep(record, d, facts({ nowMs: NOW + HOUR }));
      expect(step.kind).toBe('countersign');
      if (step.kind === 'countersign') expect(step.pending.envelope).toEqual(s.envelope);
    }
  });

  it('crash after the countersignature was stored: log that envelope with that countersignature', () => {
    const s = signed({});
    const cs = countersign(s.envelope, witness, NOW);
    const record = readAttestationRecord(
      attestationRecordData(undefined, { envelope: s.envelope, countersignature: cs }),
    );
    const step = nextAttestationStep(record, deployment(), facts());
    expect(step.kind).toBe('log');
    if (step.kind === 'log')
      expect([step.pending.envelope, step.pending.countersignature]).toEqual([s.envelope, cs]);
  });

  it('published and nothing changed: nothing to do; a change: serial + 1 chained to the published one', () => {
    const first = signed({});
    const record = published(first);
    expect(nextAttestationStep(record, deployment(), facts()).kind).toBe('none');
    const second = signed(record, deployment({ guessLimit: 9 }), facts({ nowMs: NOW + 1000 }));
    expect(second.step.change.reason).toBe('GuessLimitChanged');
    expect(second.step.input.serial).toBe(2);
    expect(second.step.input.previousAttestationDigest).toEqual(envelopeDigest(first.envelope));
    const pending = readAttestationRecord(
      attestationRecordData(record.published?.bundle, { envelope: second.envelope }),
    );
    // The published bundle is kept beside the pending one, and is what the new bundle names as previous.
    expect(pending.published?.statement.predicate.serial).toBe(1);
    expect(pending.pending && previousEnvelopeFor(pending.pending, pending.published)).toEqual(
      first.envelope,
    );
  });

  it('a pending envelope that expired unpublished is abandoned: the next takes the serial after it', () => {
    const first = signed({});
    const record = published(first);
    const second = signed(record, deployment({ guessLimit: 9 }));
    const stuck = readAttestationRecord(
      attestationRecordData(record.published?.bundle, { envelope: second.envelope }),
    );
    const expiry = Date.parse(second.statement.predicate.expiresAt);
    expect(
      nextAttestationStep(stuck, deployment({ guessLimit: 9 }), facts({ nowMs: expiry - 1000 })).kind,
    ).toBe('countersign');
    const third = signed(stuck, deployment({ guessLimit: 9 }), facts({ nowMs: expiry }));
    expect(third.step.change.reason).toBe('PendingExpired');
    expect(third.step.input.serial).toBe(3);
    expect(third.step.input.previousAttestationDigest).toEqual(envelopeDigest(first.envelope));
  });

  it('a pending envelope that is not above the published serial is stale and ignored', () => {
    const first = signed({});
    const record = published(first);
    const stale = readAttestationRecord(
      attestationRecordData(record.published?.bundle, { envelope: first.envelope }),
    );
    expect(nextAttestationStep(stale, deployment(), facts()).kind).toBe('none');
  });

  it('a lost record continues the serial and the chain from status.attestation', () => {
    const digest = `sha256:${'ef'.repeat(32)}`;
    const { step } = signed({}, deployment(), facts({ lastKnown: { serial: 5, digest } }));
    expect(step.input.serial).toBe(6);
    expect(formatDigest(step.input.previousAttestationDigest as Uint8Array)).toBe(digest);
  });

  it('waits with the reason when the deployment cannot be attested and nothing is pending', () => {
    const why = { reason: 'ImageDigestUnknown', message: 'pin the image' };
    expect(nextAttestationStep({}, why, facts())).toEqual({ kind: 'wait', why });
  });
});

describe('readAttestationRecord', () => {
  it('refuses a damaged record instead of starting over', () => {
    const s = signed({});
    expect(() => readAttestationRecord({ 'pending.json': '{"envelope":1}' })).toThrow(/pending.envelope/);
    expect(() => readAttestationRecord({ 'bundle.json': 'x' })).toThrow(/bundle/);
    const payload = JSON.stringify({ envelope: { ...s.envelope, payload: 'AAAA' } });
    expect(() => readAttestationRecord({ 'pending.json': payload })).toThrow();
    expect(readAttestationRecord(undefined)).toEqual({});
  });
});
