// A complete, valid attestation setup for tests: a manufacturer CA, member HSM certificates,
// operator and witness keys, and a real key directory (directory-node's publisher code on a
// temporary SQLite file) that logs envelope digests and serves lookup proofs the way
// GET /v1/lookup does. Deterministic: fixed seeds and a fixed clock.

import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeLookupProof } from '@keyfleet/sdk/akd/codec';
import {
  type AttestationTrust,
  buildFleetStatement,
  bundleFor,
  type DirectoryLookupJson,
  type DsseEnvelope,
  directoryChange,
  ed25519Signer,
  envelopeDigest,
  type FleetStatement,
  type FleetStatementInput,
  signFleetStatement,
  type ValidationBundle,
  witnessCountersign,
} from '@keyfleet/sdk/attestation/index';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import {
  type CertificateRequest,
  certificateRequestTbs,
  encodeCertificateRequest,
} from '@keyfleet/sdk/hsm/certificate';
import { ed25519PrivateKey, Purpose, rawPublicKey, signWithPurpose } from '@keyfleet/sdk/hsm/keys';
import { vrfPublicKeyFromSecret } from '@keyfleet/sdk/vrf/ecvrf';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { createApp } from '../../../directory-node/src/api/app.ts';
import { changesRouter } from '../../../directory-node/src/api/changes.ts';
import { readerRouter } from '../../../directory-node/src/api/reader.ts';
import { createMetrics } from '../../../directory-node/src/metrics.ts';
import { lookupProof } from '../../../directory-node/src/proofs/lookup.ts';
import { FilesystemAuditStorage } from '../../../directory-node/src/publisher/audit-storage.ts';
import { buildEpoch } from '../../../directory-node/src/publisher/epoch-builder.ts';
import { epochHeadJson } from '../../../directory-node/src/publisher/epoch-head.ts';
import { DirectoryHarness } from '../../../directory-node/src/testing/directory-harness.ts';

export const NOW = Date.parse('2026-11-23T12:00:00Z');
export const FLEET = { namespace: 'vaults', name: 'backups', uid: '0f8e6c1a-3b7d-4e2f-9a51-6c0d2b7e8f13' };
export const DIRECTORY = { namespace: 'vaults', name: 'keys' };

const seed = (n: number) => new Uint8Array(32).fill(n);

/** A certificate request from an HSM whose keys come from `n` (what SoftwareHsm.certificateRequest makes). */
export function hsmCertificateRequest(n: number, fleet: string, member: string, zone: string): Uint8Array {
  const identity = ed25519PrivateKey(seed(n));
  const req: CertificateRequest = {
    subject: { fleet, member, zone },
    identityPublicKey: rawPublicKey(identity),
    agreementPublicKey: x25519.getPublicKey(seed(n + 100)),
  };
  return encodeCertificateRequest(
    req,
    signWithPurpose(identity, Purpose.certificateRequest, certificateRequestTbs(req)),
  );
}

export class AttestationFixture {
  readonly ca = CertificateAuthority.fromSeed(seed(1));
  readonly operator = ed25519Signer(seed(2));
  readonly witness = ed25519Signer(seed(3));
  readonly vrfSecret = seed(4);
  readonly directorySigningSecret = seed(5);
  readonly directory = new DirectoryHarness(
    this.vrfSecret,
    `${DIRECTORY.namespace}/${DIRECTORY.name}`,
    this.directorySigningSecret,
  );
  private requests = 0;

  readonly trust: AttestationTrust = {
    operatorKeys: [this.operator.publicKey],
    witnessKeys: [this.witness.publicKey],
    manufacturerCaKeys: [this.ca.publicKey],
    directory: {
      vrfPublicKey: vrfPublicKeyFromSecret(this.vrfSecret),
      signingKey: ed25519.getPublicKey(this.directorySigningSecret),
    },
  };

  /** Certificates for members `<name>-dc1..dcN`, HSM keys numbered from `keyBase`. */
  members(n: number, keyBase = 10): FleetStatementInput['members'] {
    return Array.from({ length: n }, (_, i) => {
      const zone = `dc${i + 1}`;
      const id = `${FLEET.name}-${zone}`;
      const request = hsmCertificateRequest(keyBase + i, `${FLEET.namespace}/${FLEET.name}`, id, zone);
      const certificate = this.ca.issue(request, {
        expect: { fleet: `${FLEET.namespace}/${FLEET.name}`, member: id, zone },
        notBefore: NOW / 1000 - 86_400,
        notAfter: NOW / 1000 + 365 * 86_400,
      });
      return { id, zone, certificate };
    });
  }

  input(overrides: Partial<FleetStatementInput> = {}): FleetStatementInput {
    const members = overrides.members ?? this.members(3);
    return {
      fleet: FLEET,
      generation: 1,
      serial: 1,
      zones: members.map((m) => m.zone),
      guessLimit: 10,
      members,
      manufacturerCaPublicKey: this.ca.publicKey,
      opaqueServerPublicKey: seed(6),
      image: { ref: 'ghcr.io/keyfleet/vault-node:0.1.0', digest: `sha256:${'ab'.repeat(32)}` },
      createdAt: NOW - 60_000,
      expiresAt: NOW + 7 * 86_400_000,
      previousAttestationDigest: null,
      directory: DIRECTORY,
      ...overrides,
    };
  }

  /** Logs `value` under `label` in a new epoch and returns the lookup response the reader serves. */
  async log(label: string, value: Uint8Array): Promise<DirectoryLookupJson> {
    const enc = new TextEncoder();
    await this.directory.storage.enqueue(
      { requestId: `r${this.requests++}`, username: enc.encode(label), value },
      1e9,
    );
    await this.publishPending();
    return this.lookup(label);
  }

  /** Publishes the queued changes as one epoch (what the publisher's loop does on its timer). */
  async publishPending(): Promise<void> {
    const storage = this.directory.storage;
    const built = await buildEpoch(storage, this.directory.ctx, await storage.pending(1e9));
    if (built.commit === undefined) throw new Error('nothing to publish');
    await storage.commitEpoch(built.commit);
  }

  /** The directory's real HTTP API (POST /v1/changes, GET /v1/lookup, ...) on loopback. */
  async serve(): Promise<{ url: string; close: () => Promise<void> }> {
    const app = createApp({
      routers: [
        changesRouter({ storage: this.directory.storage, maxQueueDepth: 1000 }),
        readerRouter({
          namespace: this.directory.ctx.namespace,
          storage: this.directory.storage,
          audit: new FilesystemAuditStorage(join(this.directory.dir, 'audit')),
          hasher: this.directory.ctx.hasher,
          vrf: this.directory.ctx.vrf,
          signingPublicKey: this.directory.ctx.signing.publicKey,
        }),
      ],
      registry: createMetrics().registry,
      notReadyReason: () => undefined,
      log: () => {},
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((r) => server.close(() => r())),
    };
  }

  async lookup(label: string): Promise<DirectoryLookupJson> {
    const { epoch, proof } = await this.directory.storage.read((s) =>
      lookupProof(s, this.directory.ctx.hasher, this.directory.ctx.vrf, new TextEncoder().encode(label)),
    );
    return {
      epoch: epochHeadJson(epoch.head, epoch.signature),
      version: Number(proof.version),
      proof: Buffer.from(encodeLookupProof(proof)).toString('base64url'),
    };
  }

  /** The operator's whole sequence: build, sign, countersign, log, bundle. */
  async attest(
    input: FleetStatementInput,
    previousEnvelope?: DsseEnvelope,
  ): Promise<{ bundle: ValidationBundle; statement: FleetStatement; envelope: DsseEnvelope }> {
    const statement = buildFleetStatement(input);
    const envelope = signFleetStatement(statement, this.operator);
    const countersignature = witnessCountersign(
      envelope,
      [this.operator.publicKey],
      this.witness,
      input.createdAt + 1000,
    );
    const change = directoryChange(statement, envelope);
    const lookup = await this.log(change.username, new Uint8Array(Buffer.from(change.value, 'base64url')));
    return { bundle: bundleFor(envelope, countersignature, lookup, previousEnvelope), statement, envelope };
  }

  /** The next attestation in the chain after `previous`. */
  async next(
    previous: { envelope: DsseEnvelope; statement: FleetStatement },
    overrides: Partial<FleetStatementInput> = {},
  ): Promise<{ bundle: ValidationBundle; statement: FleetStatement; envelope: DsseEnvelope }> {
    return this.attest(
      this.input({
        serial: previous.statement.predicate.serial + 1,
        generation: previous.statement.predicate.generation + 1,
        previousAttestationDigest: envelopeDigest(previous.envelope),
        createdAt: Date.parse(previous.statement.predicate.createdAt) + 1000,
        ...overrides,
      }),
      previous.envelope,
    );
  }

  close(): void {
    this.directory.close();
  }
}
