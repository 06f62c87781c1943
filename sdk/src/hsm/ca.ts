// The simulated manufacturer CA. In a hardware deployment the HSM vendor certifies each device's
// key at the factory; here the operator holds the CA key (from a Secret) and certifies each vault
// member's HSM once, when the member is provisioned: the HSM produces a signed request, the CA
// checks it and issues the certificate (CHAIN.md).

import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { concatBytes } from './bytes.ts';
import {
  CertificateError,
  type CertificateRequest,
  caKeyId,
  certificateTbs,
  type Subject,
  verifyCertificateRequest,
} from './certificate.ts';
import { ed25519PrivateKey, Purpose, rawPublicKey, signWithPurpose } from './keys.ts';

export interface IssueOptions {
  /** The subject the operator is provisioning; the request must ask for exactly this. */
  readonly expect: Subject;
  /** Unix seconds. */
  readonly notBefore: number;
  /** Unix seconds. */
  readonly notAfter: number;
}

export class CertificateAuthority {
  readonly #key: KeyObject;
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;

  private constructor(seed: Uint8Array) {
    this.#key = ed25519PrivateKey(seed);
    this.publicKey = rawPublicKey(this.#key);
    this.keyId = caKeyId(this.publicKey);
  }

  /** The CA whose Ed25519 private key is `seed` (32 bytes, e.g. read from the operator's Secret). */
  static fromSeed(seed: Uint8Array): CertificateAuthority {
    return new CertificateAuthority(seed);
  }

  /** A new CA with a random key; the caller must keep the seed it cannot get back (tests, dev). */
  static generate(): { ca: CertificateAuthority; seed: Uint8Array } {
    const seed = new Uint8Array(randomBytes(32));
    return { ca: new CertificateAuthority(seed), seed };
  }

  /**
   * Checks the request's proof of possession and that it asks for exactly `expect`, then returns
   * the encoded certificate. Throws CertificateError saying what was wrong.
   */
  issue(request: Uint8Array, o: IssueOptions): Uint8Array {
    const req: CertificateRequest = verifyCertificateRequest(request);
    for (const field of ['fleet', 'member', 'zone'] as const) {
      if (req.subject[field] !== o.expect[field]) {
        throw new CertificateError(
          `the request asks for ${field} ${JSON.stringify(req.subject[field])}, but this member is being provisioned as ${JSON.stringify(o.expect[field])}`,
        );
      }
    }
    if (!Number.isSafeInteger(o.notBefore) || !Number.isSafeInteger(o.notAfter) || o.notBefore > o.notAfter) {
      throw new CertificateError(`invalid validity ${o.notBefore}..${o.notAfter}`);
    }
    const tbs = certificateTbs({
      ...req,
      notBefore: o.notBefore,
      notAfter: o.notAfter,
      issuerKeyId: this.keyId,
    });
    return concatBytes(tbs, signWithPurpose(this.#key, Purpose.certificate, tbs));
  }
}
