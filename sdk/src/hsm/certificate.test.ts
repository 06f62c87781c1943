import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from './bytes.ts';
import { CertificateAuthority } from './ca.ts';
import {
  type CertificateRequest,
  caKeyId,
  certificateRequestTbs,
  decodeCertificate,
  encodeCertificateRequest,
  trustedMembersFromCertificates,
  verifyCertificate,
  verifyCertificateRequest,
} from './certificate.ts';
import { ed25519PrivateKey, Purpose, rawPublicKey, signWithPurpose } from './keys.ts';

const NOW = 1_900_000_000;
const subject = { fleet: 'vaults/backups', member: 'backups-dc3', zone: 'dc3' };

function hsmKeys(): { identity: KeyObject; request: CertificateRequest } {
  const identity = generateKeyPairSync('ed25519').privateKey;
  const agreement = generateKeyPairSync('x25519').privateKey;
  return {
    identity,
    request: {
      subject,
      identityPublicKey: rawPublicKey(identity),
      agreementPublicKey: rawPublicKey(agreement),
    },
  };
}

function signedRequest(identity: KeyObject, request: CertificateRequest): Uint8Array {
  return encodeCertificateRequest(
    request,
    signWithPurpose(identity, Purpose.certificateRequest, certificateRequestTbs(request)),
  );
}

function issued() {
  const { ca } = CertificateAuthority.generate();
  const { identity, request } = hsmKeys();
  const cert = ca.issue(signedRequest(identity, request), {
    expect: subject,
    notBefore: NOW - 10,
    notAfter: NOW + 1000,
  });
  return { ca, cert, request };
}

describe('certificate issuance (CSR-like provisioning)', () => {
  it('issues a certificate that verifies, with the requested keys and subject', () => {
    const { ca, cert, request } = issued();
    const c = verifyCertificate(cert, {
      trustAnchors: [ca.publicKey],
      now: NOW,
      fleet: subject.fleet,
      member: subject.member,
    });
    expect(c.subject).toEqual(subject);
    expect(c.identityPublicKey).toEqual(request.identityPublicKey);
    expect(c.agreementPublicKey).toEqual(request.agreementPublicKey);
    expect(c.issuerKeyId).toEqual(caKeyId(ca.publicKey));
    expect(c.encoded).toEqual(cert);
    // version 1 + 3 strings + 2 keys + 2 times + key id + signature
    expect(cert.length).toBe(1 + (1 + 14) + (1 + 11) + (1 + 3) + 64 + 16 + 32 + 64);
  });

  it('refuses a request without proof of possession', () => {
    const { ca } = CertificateAuthority.generate();
    const { request } = hsmKeys();
    const other = generateKeyPairSync('ed25519').privateKey;
    expect(() =>
      ca.issue(signedRequest(other, request), { expect: subject, notBefore: 0, notAfter: 1 }),
    ).toThrow(/proof of possession/);
  });

  it('refuses a request for another subject than the one being provisioned', () => {
    const { ca } = CertificateAuthority.generate();
    const { identity, request } = hsmKeys();
    for (const field of ['fleet', 'member', 'zone'] as const) {
      const expect_ = { ...subject, [field]: `${subject[field]}x` };
      expect(() =>
        ca.issue(signedRequest(identity, request), { expect: expect_, notBefore: 0, notAfter: 1 }),
      ).toThrow(new RegExp(`asks for ${field}`));
    }
  });

  it('refuses requests with a small-order identity key or agreement key', () => {
    const { identity, request } = hsmKeys();
    const smallOrder = new Uint8Array(32);
    smallOrder[0] = 1;
    expect(() =>
      verifyCertificateRequest(signedRequest(identity, { ...request, identityPublicKey: smallOrder })),
    ).toThrow(/identity public key/);
    expect(() =>
      verifyCertificateRequest(signedRequest(identity, { ...request, agreementPublicKey: smallOrder })),
    ).toThrow(/agreement public key/);
  });

  it('the CA key signing the same bytes under another purpose does not make a certificate', () => {
    const { ca, seed } = CertificateAuthority.generate();
    const { identity, request } = hsmKeys();
    const cert = ca.issue(signedRequest(identity, request), {
      expect: subject,
      notBefore: 0,
      notAfter: NOW * 2,
    });
    const tbs = cert.subarray(0, cert.length - 64);
    const o = { trustAnchors: [ca.publicKey], now: NOW };
    expect(verifyCertificate(cert, o).subject).toEqual(subject);
    for (const purpose of Object.values(Purpose)) {
      const resigned = concatBytes(tbs, signWithPurpose(ed25519PrivateKey(seed), purpose, tbs));
      if (purpose === Purpose.certificate) expect(resigned).toEqual(cert);
      else expect(() => verifyCertificate(resigned, o)).toThrow(/CA signature/);
    }
  });
});

describe('certificate verification', () => {
  it('fails on every single-bit flip and every byte inverted', { timeout: 60_000 }, () => {
    const { ca, cert } = issued();
    const o = { trustAnchors: [ca.publicKey], now: NOW };
    let checked = 0;
    for (let i = 0; i < cert.length; i++) {
      for (const mask of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
        const m = cert.slice();
        m[i]! ^= mask;
        expect(() => verifyCertificate(m, o), `byte ${i} ^ ${mask}`).toThrow();
        checked++;
      }
    }
    expect(checked).toBe(cert.length * 9);
  });

  it('fails on any other single-byte value (property)', () => {
    const { ca, cert } = issued();
    const o = { trustAnchors: [ca.publicKey], now: NOW };
    fc.assert(
      fc.property(fc.nat(cert.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = cert.slice();
        m[i]! ^= x;
        expect(() => verifyCertificate(m, o)).toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('fails on every truncation and on trailing bytes', () => {
    const { ca, cert } = issued();
    const o = { trustAnchors: [ca.publicKey], now: NOW };
    for (let n = 0; n < cert.length; n++) expect(() => verifyCertificate(cert.subarray(0, n), o)).toThrow();
    expect(() => verifyCertificate(concatBytes(cert, new Uint8Array([0])), o)).toThrow(/trailing/);
  });

  it('checks issuer, validity window, fleet and member', () => {
    const { ca, cert } = issued();
    const other = CertificateAuthority.generate().ca;
    expect(() => verifyCertificate(cert, { trustAnchors: [other.publicKey], now: NOW })).toThrow(
      /not in the trusted set/,
    );
    expect(() => verifyCertificate(cert, { trustAnchors: [ca.publicKey], now: NOW - 11 })).toThrow(
      /not valid before/,
    );
    expect(() => verifyCertificate(cert, { trustAnchors: [ca.publicKey], now: NOW + 1001 })).toThrow(
      /expired/,
    );
    expect(verifyCertificate(cert, { trustAnchors: [ca.publicKey], now: NOW + 1000 }).notAfter).toBe(
      NOW + 1000,
    );
    expect(() =>
      verifyCertificate(cert, { trustAnchors: [ca.publicKey], now: NOW, fleet: 'vaults/other' }),
    ).toThrow(/fleet/);
    expect(() =>
      verifyCertificate(cert, { trustAnchors: [ca.publicKey], now: NOW, member: 'backups-dc4' }),
    ).toThrow(/member/);
    expect(() => decodeCertificate(cert)).not.toThrow();
  });

  it('builds a trusted set from certificates and refuses duplicates', () => {
    const { ca } = CertificateAuthority.generate();
    const certs = ['backups-dc1', 'backups-dc2'].map((member) => {
      const { identity, request } = hsmKeys();
      const r = { ...request, subject: { ...subject, member } };
      return ca.issue(signedRequest(identity, r), { expect: r.subject, notBefore: 0, notAfter: NOW * 2 });
    });
    const trusted = trustedMembersFromCertificates(certs, {
      trustAnchors: [ca.publicKey],
      now: NOW,
      fleet: subject.fleet,
    });
    expect([...trusted.keys()]).toEqual(['backups-dc1', 'backups-dc2']);
    expect(() =>
      trustedMembersFromCertificates([certs[0]!, certs[0]!], {
        trustAnchors: [ca.publicKey],
        now: NOW,
        fleet: subject.fleet,
      }),
    ).toThrow(/two certificates/);
  });
});
