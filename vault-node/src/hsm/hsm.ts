// The software HSM. A narrow interface through which no private or symmetric key ever leaves:
// the keys live in this class's private fields (unreachable from outside the class, by the
// language, not by convention) and nothing returns them. What goes out is public keys, signatures,
// MACs, ciphertexts, attestations and OPAQUE messages. Every key operation is recorded in the
// hash-chained audit log before its result is returned, except the per-envelope Raft MACs (and
// signatures), which are counted per key and purpose into periodic usage entries (audit-log.ts);
// keys at rest are sealed (sealed-slot.ts). The pairwise MAC keys shared with the other members
// (peer-links.ts) are derived in memory from the agreement key and never stored.
//
// Layout of `dir`:  slots/<name>.slot   sealed keys
//                   identity.cert       this HSM's certificate (public)
//                   audit.log           the audit log (audit.<seq>.log: its rotated segments)

import { type KeyObject, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { recordDigest } from '@keyfleet/sdk/backup/crypto';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal, context, deriveKey } from '@keyfleet/sdk/hsm/aead';
import {
  encodeSlotAttestation,
  SLOT_KINDS,
  type SlotKind,
  type SlotStatement,
  slotStatementTbs,
} from '@keyfleet/sdk/hsm/attestation';
import { concatBytes, ctEqual } from '@keyfleet/sdk/hsm/bytes';
import {
  type Certificate,
  CertificateError,
  certificateRequestTbs,
  decodeCertificate,
  encodeCertificateRequest,
  verifyCertificate,
} from '@keyfleet/sdk/hsm/certificate';
import {
  assertId,
  FLEET_ID_PATTERN,
  MEMBER_ID_PATTERN,
  SLOT_PATTERN,
  ZONE_PATTERN,
} from '@keyfleet/sdk/hsm/ids';
import {
  ed25519PrivateKey,
  Purpose,
  rawPublicKey,
  signWithPurpose,
  verifyWithPurpose,
  x25519PrivateKey,
} from '@keyfleet/sdk/hsm/keys';
import * as opaque from '@serenity-kit/opaque';
import { writeFileAtomic } from '../raft/storage/fsync.ts';
import { AttemptLedger, type AttemptProof, type CommittedAttempt } from './attempt-ledger.ts';
import { type AuditHead, AuditLog } from './audit-log.ts';
import { decodeEnvelope, openEnvelope, sealEnvelope } from './fleet-secret.ts';
import { OpaqueEngine } from './opaque-engine.ts';
import type { OpaqueLoginPool } from './opaque-login-pool.ts';
import { PeerLinks } from './peer-links.ts';
import { openSlot, readSealingKey, SECRET_BYTES, sealSlot } from './sealed-slot.ts';

export const IDENTITY_SLOT = 'identity';
export const AGREEMENT_SLOT = 'agreement';
export const FLEET_SECRET_SLOT = 'fleet-opaque';

/** Purposes the generic sign() accepts; every other purpose is signed only by the operation that builds it. */
const EXTERNAL_PURPOSES: ReadonlySet<Purpose> = new Set([Purpose.raftMessage]);
const LABEL_PATTERN = /^[a-z0-9][a-z0-9._/-]{0,62}$/;
const WRAP_VERSION = 1;
const DEFAULT_LOGIN_TTL_MS = 30_000;
const DEFAULT_MAX_PENDING = 65_536;
const MAX_WRAP_BYTES = 16 * 1024 * 1024;

export interface SoftwareHsmOptions {
  /** Holds slots/, identity.cert and audit.log (the member's persistent volume). */
  readonly dir: string;
  /** 32 raw bytes, mounted from a Kubernetes Secret. */
  readonly wrappingKeyFile: string;
  readonly fleetId: string;
  readonly memberId: string;
  /** Public keys of the manufacturer CAs whose certificates this HSM accepts (the CA bundle). */
  readonly trustAnchors: readonly Uint8Array[];
  /** Milliseconds since the epoch (tests inject a clock). */
  readonly now?: () => number;
  readonly loginTtlMs?: number;
  readonly sessionTtlMs?: number;
  /** Bound on login states and on sessions held at once, each. */
  readonly maxPendingLogins?: number;
  readonly auditFsyncIntervalMs?: number;
  /** How often routine operations (Raft envelope MACs) are summarised as usage entries; default 60 s. */
  readonly auditUsageIntervalMs?: number;
  /** Audit log segment size before rotation, and rotated segments kept (audit-log.ts). */
  readonly auditMaxBytes?: number;
  readonly auditKeepSegments?: number;
  /** Where OPAQUE startLogin runs (default: the process's worker pool, opaque-login-pool.ts). */
  readonly opaqueLoginPool?: OpaqueLoginPool;
}

export interface SlotInfo {
  readonly name: string;
  readonly kind: SlotKind;
  /** Ed25519 / X25519 public key, or the OPAQUE server public key; null for symmetric keys. */
  readonly publicKey: Uint8Array | null;
}

export class HsmError extends Error {
  override name = 'HsmError';
}

type Held =
  | { readonly kind: 'ed25519'; readonly key: KeyObject; readonly publicKey: Uint8Array }
  | { readonly kind: 'x25519'; readonly key: KeyObject; readonly publicKey: Uint8Array }
  | { readonly kind: 'symmetric'; readonly key: Uint8Array; readonly wrapKey: Uint8Array }
  | { readonly kind: 'opaque-setup'; readonly setup: Uint8Array; readonly engine: OpaqueEngine };

export class SoftwareHsm {
  readonly fleetId: string;
  readonly memberId: string;
  readonly #dir: string;
  readonly #sealingKey: Uint8Array;
  readonly #slots = new Map<string, Held>();
  readonly #audit: AuditLog;
  readonly #trustAnchors: readonly Uint8Array[];
  readonly #now: () => number;
  readonly #o: SoftwareHsmOptions;
  readonly #attempts: AttemptLedger;
  readonly #peerLinks: PeerLinks;
  #certificate: Certificate | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(o: SoftwareHsmOptions, sealingKey: Uint8Array, audit: AuditLog) {
    this.fleetId = o.fleetId;
    this.memberId = o.memberId;
    this.#dir = o.dir;
    this.#sealingKey = sealingKey;
    this.#audit = audit;
    this.#trustAnchors = o.trustAnchors.map((k) => k.slice());
    this.#now = o.now ?? Date.now;
    this.#o = o;
    this.#peerLinks = new PeerLinks({
      fleet: o.fleetId,
      member: o.memberId,
      agreement: () => this.#heldOf(AGREEMENT_SLOT, 'x25519'),
    });
    this.#attempts = new AttemptLedger({
      ttlMs: o.loginTtlMs ?? DEFAULT_LOGIN_TTL_MS,
      max: o.maxPendingLogins ?? DEFAULT_MAX_PENDING,
    });
  }

  /**
   * Opens the HSM in `dir`: derives the sealing key from the wrapping key file, verifies the audit
   * log, and unseals every slot. Refuses to open when any slot does not unseal (wrong wrapping key,
   * or a file sealed for another fleet, member or slot) or the audit log fails verification.
   */
  static async open(o: SoftwareHsmOptions): Promise<SoftwareHsm> {
    assertId(o.fleetId, FLEET_ID_PATTERN, 'fleet id');
    assertId(o.memberId, MEMBER_ID_PATTERN, 'member id');
    await opaque.ready;
    mkdirSync(join(o.dir, 'slots'), { recursive: true, mode: 0o700 });
    const sealingKey = readSealingKey(o.wrappingKeyFile);
    const now = o.now ?? Date.now;
    const audit = AuditLog.open(join(o.dir, 'audit.log'), {
      fleet: o.fleetId,
      member: o.memberId,
      now,
      ...(o.auditFsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: o.auditFsyncIntervalMs }),
      ...(o.auditUsageIntervalMs === undefined ? {} : { usageIntervalMs: o.auditUsageIntervalMs }),
      ...(o.auditMaxBytes === undefined ? {} : { maxBytes: o.auditMaxBytes }),
      ...(o.auditKeepSegments === undefined ? {} : { keepSegments: o.auditKeepSegments }),
    });
    const hsm = new SoftwareHsm(o, sealingKey, audit);
    try {
      hsm.#load();
    } catch (e) {
      sealingKey.fill(0);
      await audit.close();
      throw e;
    }
    audit.append('open', '-', `slots=${hsm.#slots.size}`);
    await audit.flush();
    return hsm;
  }

  #load(): void {
    const slotDir = join(this.#dir, 'slots');
    for (const file of readdirSync(slotDir).sort()) {
      if (file.endsWith('.tmp')) {
        rmSync(join(slotDir, file));
        continue;
      }
      const m = /^(.+)\.slot$/.exec(file);
      if (!m || !SLOT_PATTERN.test(m[1]!)) throw new HsmError(`unexpected file ${join(slotDir, file)}`);
      const name = m[1]!;
      const { kind, secret } = openSlot(
        this.#sealingKey,
        this.#binding(name),
        readFileSync(join(slotDir, file)),
      );
      this.#slots.set(name, this.#materialize(kind, secret));
      secret.fill(0);
    }
    this.#enableCheckpoints();
    let certBytes: Uint8Array;
    try {
      certBytes = readFileSync(join(this.#dir, 'identity.cert'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const cert = decodeCertificate(new Uint8Array(certBytes));
    this.#checkCertificateKeys(cert);
    this.#certificate = cert;
  }

  #binding(slot: string) {
    return { fleet: this.fleetId, member: this.memberId, slot };
  }

  #materialize(kind: SlotKind, secret: Uint8Array): Held {
    switch (kind) {
      case 'ed25519': {
        const key = ed25519PrivateKey(secret);
        return { kind, key, publicKey: rawPublicKey(key) };
      }
      case 'x25519': {
        const key = x25519PrivateKey(secret);
        return { kind, key, publicKey: rawPublicKey(key) };
      }
      case 'symmetric': {
        const key = secret.slice();
        return { kind, key, wrapKey: deriveKey(key, 'keyfleet/v1', context('hsm-wrap')) };
      }
      case 'opaque-setup':
        return {
          kind,
          setup: secret.slice(),
          engine: new OpaqueEngine(secret, {
            fleetId: this.fleetId,
            memberId: this.memberId,
            now: this.#now,
            signTranscript: (t) => this.#identitySign(Purpose.escrowResponse, t),
            loginTtlMs: this.#o.loginTtlMs ?? DEFAULT_LOGIN_TTL_MS,
            sessionTtlMs: this.#o.sessionTtlMs ?? 120_000,
            maxPending: this.#o.maxPendingLogins ?? DEFAULT_MAX_PENDING,
            ...(this.#o.opaqueLoginPool ? { loginPool: this.#o.opaqueLoginPool } : {}),
          }),
        };
    }
  }

  #enableCheckpoints(): void {
    if (this.#slots.get(IDENTITY_SLOT)?.kind === 'ed25519') {
      this.#audit.setCheckpointSigner((m) => this.#identitySign(Purpose.auditCheckpoint, m));
    }
  }

  #open(): void {
    if (this.#closed) throw new HsmError('the HSM is closed');
  }

  #held(name: string): Held {
    this.#open();
    const h = this.#slots.get(name);
    if (!h) throw new HsmError(`no key in slot ${JSON.stringify(name)}`);
    return h;
  }

  #heldOf<K extends SlotKind>(name: string, kind: K): Extract<Held, { kind: K }> {
    const h = this.#held(name);
    if (h.kind !== kind) throw new HsmError(`slot ${name} holds a ${h.kind} key, not ${kind}`);
    return h as Extract<Held, { kind: K }>;
  }

  #identitySign(purpose: Purpose, message: Uint8Array): Uint8Array {
    return signWithPurpose(this.#heldOf(IDENTITY_SLOT, 'ed25519').key, purpose, message);
  }

  #info(name: string, h: Held): SlotInfo {
    const publicKey =
      h.kind === 'symmetric'
        ? null
        : h.kind === 'opaque-setup'
          ? h.engine.publicKey.slice()
          : h.publicKey.slice();
    return { name, kind: h.kind, publicKey };
  }

  /** Serialises operations that write files, so two cannot interleave on the same slot. */
  #exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Seals `secret` into a new slot, durably, then holds it. Wipes `secret` whatever happens. */
  async #store(
    name: string,
    kind: SlotKind,
    secret: Uint8Array,
    op: string,
    detail: string,
  ): Promise<SlotInfo> {
    let held: Held;
    let sealed: Uint8Array;
    try {
      assertId(name, SLOT_PATTERN, 'slot name');
      if (this.#slots.has(name))
        throw new HsmError(`slot ${name} already holds a key; slots are never overwritten`);
      held = this.#materialize(kind, secret);
      sealed = sealSlot(
        this.#sealingKey,
        this.#binding(name),
        kind,
        secret,
        new Uint8Array(randomBytes(AEAD_NONCE_BYTES)),
      );
    } finally {
      secret.fill(0);
    }
    await writeFileAtomic(join(this.#dir, 'slots'), `${name}.slot`, sealed);
    this.#slots.set(name, held);
    this.#audit.append(op, name, detail);
    if (name === IDENTITY_SLOT) this.#enableCheckpoints();
    await this.#audit.flush();
    return this.#info(name, held);
  }

  // ---- key slots -------------------------------------------------------------------------------

  /** Every slot's name, kind and public part, by name. */
  slots(): SlotInfo[] {
    this.#open();
    return [...this.#slots].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, h]) => this.#info(name, h));
  }

  /** Generates a new key in an empty slot. 'opaque-setup' is an OPAQUE ServerSetup (the fleet secret). */
  generate(slot: string, kind: SlotKind): Promise<SlotInfo> {
    return this.#exclusive(async () => {
      this.#open();
      if (!SLOT_KINDS.includes(kind)) throw new HsmError(`unknown key kind ${JSON.stringify(kind)}`);
      // An Ed25519 private key is a 32-byte random seed (RFC 8032 §5.1.5), an X25519 one 32 random
      // bytes clamped when used (RFC 7748 §5); a ServerSetup comes from the OPAQUE library.
      const secret =
        kind === 'opaque-setup'
          ? new Uint8Array(Buffer.from(opaque.server.createSetup(), 'base64url'))
          : new Uint8Array(randomBytes(32));
      if (secret.length !== SECRET_BYTES[kind])
        throw new HsmError(`generated ${kind} secret has the wrong size`);
      return this.#store(slot, kind, secret, 'generate', kind);
    });
  }

  publicKey(slot: string): Uint8Array {
    const info = this.#info(slot, this.#held(slot));
    if (!info.publicKey) throw new HsmError(`slot ${slot} holds a symmetric key, which has no public part`);
    return info.publicKey;
  }

  /**
   * Ed25519 signature over `purpose || 0 || message`. Only purposes of statements built outside the
   * HSM are accepted here (Raft messages); certificates requests, attestations, envelopes, escrow
   * transcripts and audit checkpoints are signed only by the operations that build them, so no
   * caller can obtain a signature that passes for one of those.
   */
  sign(slot: string, purpose: Purpose, message: Uint8Array): Uint8Array {
    const h = this.#heldOf(slot, 'ed25519');
    if (!EXTERNAL_PURPOSES.has(purpose)) {
      throw new HsmError(`purpose ${purpose} is reserved for statements the HSM builds itself`);
    }
    const signature = signWithPurpose(h.key, purpose, message);
    // One per Raft envelope: counted per key and purpose into periodic usage entries (audit-log.ts).
    this.#audit.count('sign', slot, purpose);
    return signature;
  }

  /** HKDF of a symmetric or fleet-secret slot's key with `label`, into a new symmetric slot. */
  derive(from: string, label: string, into: string): Promise<SlotInfo> {
    return this.#exclusive(async () => {
      const h = this.#held(from);
      if (h.kind !== 'symmetric' && h.kind !== 'opaque-setup') {
        throw new HsmError(
          `slot ${from} holds a ${h.kind} key; only symmetric keys and the fleet secret derive`,
        );
      }
      assertId(label, LABEL_PATTERN, 'derivation label');
      const ikm = h.kind === 'symmetric' ? h.key : h.setup;
      const derived = deriveKey(ikm, 'keyfleet/v1', context('hsm-derive', label));
      return this.#store(into, 'symmetric', derived, 'derive', `from=${from},label=${label}`);
    });
  }

  #wrapAd(slot: string, ad: Uint8Array): Uint8Array {
    return context('keyfleet/v1/hsm-wrap', this.fleetId, slot, ad);
  }

  /** AEAD of `plaintext` under a symmetric slot: version (1) || nonce (24) || ciphertext. */
  wrap(slot: string, plaintext: Uint8Array, associatedData: Uint8Array = new Uint8Array()): Uint8Array {
    const h = this.#heldOf(slot, 'symmetric');
    if (plaintext.length > MAX_WRAP_BYTES) throw new HsmError(`wrap takes at most ${MAX_WRAP_BYTES} bytes`);
    const nonce = new Uint8Array(randomBytes(AEAD_NONCE_BYTES));
    const out = concatBytes(
      new Uint8Array([WRAP_VERSION]),
      nonce,
      aeadSeal(h.wrapKey, nonce, this.#wrapAd(slot, associatedData), plaintext),
    );
    this.#audit.append('wrap', slot);
    return out;
  }

  /** The plaintext of wrap(); throws when the data was not wrapped under this slot with this `associatedData`. */
  unwrap(slot: string, wrapped: Uint8Array, associatedData: Uint8Array = new Uint8Array()): Uint8Array {
    const h = this.#heldOf(slot, 'symmetric');
    const plaintext =
      wrapped.length > 1 + AEAD_NONCE_BYTES && wrapped[0] === WRAP_VERSION
        ? aeadOpen(
            h.wrapKey,
            wrapped.subarray(1, 1 + AEAD_NONCE_BYTES),
            this.#wrapAd(slot, associatedData),
            wrapped.subarray(1 + AEAD_NONCE_BYTES),
          )
        : null;
    this.#audit.append('unwrap', slot, plaintext ? 'ok' : 'failed');
    if (!plaintext)
      throw new HsmError(`unwrap failed: not wrapped under slot ${slot} with this associated data`);
    return plaintext;
  }

  /** A statement, signed by the identity key, of the slot's public part (verifySlotAttestation). */
  attest(slot: string, nonce: Uint8Array = new Uint8Array()): Uint8Array {
    const info = this.#info(slot, this.#held(slot));
    if (!info.publicKey)
      throw new HsmError(`slot ${slot} holds a symmetric key, which has no public part to attest`);
    const statement: SlotStatement = {
      fleet: this.fleetId,
      member: this.memberId,
      slot,
      kind: info.kind,
      publicKey: info.publicKey,
      time: this.#now(),
      nonce,
    };
    const signature = this.#identitySign(Purpose.slotAttestation, slotStatementTbs(statement));
    this.#audit.append('attest', slot, info.kind);
    return encodeSlotAttestation(statement, signature);
  }

  /** The head of the audit log (record it elsewhere to detect truncation later). */
  auditHead(): AuditHead {
    return this.#audit.head();
  }

  // ---- identity and certificate ----------------------------------------------------------------

  /**
   * A certificate request for this HSM's identity and agreement keys (generate both first), signed
   * by the identity key as proof of possession. The CA answers with a certificate to install.
   */
  certificateRequest(zone: string): Uint8Array {
    assertId(zone, ZONE_PATTERN, 'zone');
    const request = {
      subject: { fleet: this.fleetId, member: this.memberId, zone },
      identityPublicKey: this.#heldOf(IDENTITY_SLOT, 'ed25519').publicKey,
      agreementPublicKey: this.#heldOf(AGREEMENT_SLOT, 'x25519').publicKey,
    };
    const signature = this.#identitySign(Purpose.certificateRequest, certificateRequestTbs(request));
    this.#audit.append('certificate-request', IDENTITY_SLOT, zone);
    return encodeCertificateRequest(request, signature);
  }

  #checkCertificateKeys(cert: Certificate): void {
    const identity = this.#heldOf(IDENTITY_SLOT, 'ed25519');
    const agreement = this.#heldOf(AGREEMENT_SLOT, 'x25519');
    if (
      cert.subject.fleet !== this.fleetId ||
      cert.subject.member !== this.memberId ||
      !ctEqual(cert.identityPublicKey, identity.publicKey) ||
      !ctEqual(cert.agreementPublicKey, agreement.publicKey)
    ) {
      throw new CertificateError('the certificate is not for this HSM (subject or keys differ)');
    }
  }

  /** Verifies the certificate against the trust anchors and this HSM's keys, then keeps it. */
  installCertificate(certificate: Uint8Array): Promise<void> {
    return this.#exclusive(async () => {
      this.#open();
      const cert = this.#verifyFleetCertificate(certificate, this.memberId);
      this.#checkCertificateKeys(cert);
      await writeFileAtomic(this.#dir, 'identity.cert', cert.encoded);
      this.#certificate = cert;
      this.#audit.append('install-certificate', IDENTITY_SLOT, `zone=${cert.subject.zone}`);
      await this.#audit.flush();
    });
  }

  /** This HSM's certificate, or null before one is installed. */
  certificate(): Uint8Array | null {
    this.#open();
    return this.#certificate ? this.#certificate.encoded.slice() : null;
  }

  // ---- peer links: pairwise MAC keys with the other members (peer-links.ts) --------------------

  /**
   * Verifies another member's certificate (trust anchors, this fleet, valid now) and derives the
   * MAC key this HSM shares with it from the two agreement keys. Returns the member id.
   */
  linkPeer(certificate: Uint8Array): string {
    this.#open();
    let cert: Certificate;
    try {
      cert = this.#verifyFleetCertificate(certificate);
      this.#peerLinks.link(cert);
    } catch (e) {
      this.#audit.append('link-peer', AGREEMENT_SLOT, 'refused');
      throw e;
    }
    this.#audit.append('link-peer', AGREEMENT_SLOT, `peer=${cert.subject.member}`);
    return cert.subject.member;
  }

  /** Drops the key shared with `member` (it left the fleet); its messages fail from now on. */
  unlinkPeer(member: string): void {
    if (this.#peerLinks.unlink(member)) this.#audit.append('unlink-peer', AGREEMENT_SLOT, `peer=${member}`);
  }

  /** True while `member` is linked and its certificate is valid. */
  isPeerLinked(member: string): boolean {
    return this.#peerLinks.isLinked(member, this.#nowSeconds());
  }

  /** The MAC of `message` (a domain-tagged digest) from this member to the linked member `to`. */
  peerMac(to: string, message: Uint8Array): Uint8Array {
    const tag = this.#peerLinks.tag(to, message, this.#nowSeconds());
    // One per peer message: counted into periodic usage entries like Raft signatures were.
    this.#audit.count('mac', AGREEMENT_SLOT, 'peer-tag');
    return tag;
  }

  /** True only when `tag` is the MAC the linked member `from` made for this member over `message`. */
  verifyPeerMac(from: string, message: Uint8Array, tag: Uint8Array): boolean {
    const ok = this.#peerLinks.check(from, message, tag, this.#nowSeconds());
    this.#audit.count('mac', AGREEMENT_SLOT, ok ? 'peer-check-ok' : 'peer-check-failed');
    return ok;
  }

  #nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** A member certificate of this fleet under the trust anchors, valid now (for `member` if given). */
  #verifyFleetCertificate(certificate: Uint8Array, member?: string): Certificate {
    return verifyCertificate(certificate, {
      trustAnchors: this.#trustAnchors,
      now: this.#nowSeconds(),
      fleet: this.fleetId,
      ...(member === undefined ? {} : { member }),
    });
  }

  // ---- fleet secret distribution ---------------------------------------------------------------

  /**
   * The fleet secret in `slot`, encrypted to the member certified by `recipientCertificate`, which
   * must verify against the trust anchors and name another member of this fleet.
   */
  exportFleetSecret(slot: string, recipientCertificate: Uint8Array): Uint8Array {
    const h = this.#heldOf(slot, 'opaque-setup');
    if (!this.#certificate)
      throw new HsmError("install this HSM's certificate before distributing the fleet secret");
    let recipient: Certificate;
    try {
      recipient = this.#verifyFleetCertificate(recipientCertificate);
      if (recipient.subject.member === this.memberId)
        throw new HsmError('the recipient is this member itself');
    } catch (e) {
      this.#audit.append('export-fleet-secret', slot, 'refused');
      throw e;
    }
    const envelope = sealEnvelope({
      fleet: this.fleetId,
      sender: this.memberId,
      recipient: recipient.subject.member,
      senderIdentity: this.#heldOf(IDENTITY_SLOT, 'ed25519').key,
      senderCertificate: this.#certificate.encoded,
      recipientAgreementKey: recipient.agreementPublicKey,
      secret: h.setup,
      nonce: new Uint8Array(randomBytes(AEAD_NONCE_BYTES)),
    });
    this.#audit.append('export-fleet-secret', slot, `to=${recipient.subject.member}`);
    return envelope;
  }

  /**
   * Opens an envelope from another certified member of this fleet and stores the fleet secret in
   * `slot`. When `expectedOpaquePublicKey` is given (e.g. from the fleet attestation), the secret
   * must be the one with that public key.
   */
  importFleetSecret(
    slot: string,
    envelope: Uint8Array,
    expectedOpaquePublicKey?: Uint8Array,
  ): Promise<SlotInfo> {
    return this.#exclusive(async () => {
      this.#open();
      const e = decodeEnvelope(envelope);
      if (e.fleet !== this.fleetId)
        throw new HsmError(`the envelope is for fleet ${e.fleet}, not ${this.fleetId}`);
      if (e.recipient !== this.memberId)
        throw new HsmError(`the envelope is for member ${e.recipient}, not ${this.memberId}`);
      if (e.sender === this.memberId) throw new HsmError('the envelope claims to come from this member');
      const sender = this.#verifyFleetCertificate(e.senderCertificate, e.sender);
      if (!verifyWithPurpose(sender.identityPublicKey, Purpose.fleetSecretEnvelope, e.signed, e.signature)) {
        throw new HsmError(`the envelope is not signed by ${e.sender}'s certified identity key`);
      }
      const secret = openEnvelope(e, this.#heldOf(AGREEMENT_SLOT, 'x25519').key);
      if (secret.length !== SECRET_BYTES['opaque-setup'])
        throw new HsmError('the envelope does not hold a fleet secret');
      let publicKey: Uint8Array;
      try {
        publicKey = Buffer.from(
          opaque.server.getPublicKey(Buffer.from(secret).toString('base64url')),
          'base64url',
        );
      } catch {
        secret.fill(0);
        throw new HsmError('the envelope does not hold a valid OPAQUE server setup');
      }
      if (expectedOpaquePublicKey && !ctEqual(publicKey, expectedOpaquePublicKey)) {
        secret.fill(0);
        throw new HsmError('the fleet secret does not have the expected OPAQUE public key');
      }
      return this.#store(slot, 'opaque-setup', secret, 'import-fleet-secret', `from=${e.sender}`);
    });
  }

  // ---- OPAQUE and escrow (the fleet secret never leaves) -----------------------------------------

  #engine(slot: string): OpaqueEngine {
    return this.#heldOf(slot, 'opaque-setup').engine;
  }

  /** Registration start: createRegistrationResponse under a fresh credential nonce, and a signed transcript. */
  opaqueRegistrationResponse(slot: string, userId: string, registrationRequest: Uint8Array) {
    const r = this.#engine(slot).registrationResponse(userId, registrationRequest);
    this.#audit.append('opaque-registration-response', slot);
    return r;
  }

  /** The credential nonce inside a registration ticket this fleet issued for `userId`, or null. */
  opaqueCheckTicket(slot: string, userId: string, ticket: Uint8Array): Uint8Array | null {
    const nonce = this.#engine(slot).checkTicket(userId, ticket);
    this.#audit.append('opaque-check-ticket', slot, nonce ? 'ok' : 'failed');
    return nonce;
  }

  /**
   * Records an attempt the escrow state machine applied (so Raft committed it): the one
   * opaqueStartLogin it allows (attempt-ledger.ts). Called from apply, on every member.
   */
  recordCommittedAttempt(a: CommittedAttempt): void {
    this.#open();
    this.#attempts.record(a, this.#now());
  }

  /**
   * server.startLogin, only for a committed attempt not evaluated yet: `attempt` is the log index
   * and term of the attempt entry, which must have been recorded for this user and registration.
   * The login state stays inside, named by the returned loginId. The grant is consumed before the
   * evaluation starts (on the OPAQUE worker thread, opaque-login-pool.ts), so two calls for one
   * grant can never both evaluate.
   */
  async opaqueStartLogin(
    slot: string,
    i: {
      userId: string;
      credentialNonce: Uint8Array;
      registrationRecord: Uint8Array;
      startLoginRequest: Uint8Array;
      attempt: AttemptProof;
    },
  ) {
    const engine = this.#engine(slot);
    const digest = recordDigest(i.credentialNonce, i.registrationRecord);
    if (!this.#attempts.consume(i.attempt, i.userId, digest, this.#now())) {
      this.#audit.append('opaque-start-login-refused', slot, `attempt=${i.attempt.index}`);
      throw new HsmError(
        `no committed, unused attempt at index ${i.attempt.index} (term ${i.attempt.term}) for this user and registration`,
      );
    }
    const r = await engine.startLogin(i);
    this.#audit.append('opaque-start-login', slot, `attempt=${i.attempt.index}`);
    return r;
  }

  /** server.finishLogin; on success a session (its key stays inside) named by sessionId, else null. */
  opaqueFinishLogin(
    slot: string,
    i: { userId: string; loginId: Uint8Array; finishLoginRequest: Uint8Array },
  ) {
    const r = this.#engine(slot).finishLogin(i);
    this.#audit.append('opaque-finish-login', slot, r ? 'ok' : 'failed');
    return r;
  }

  /** Opens a session's backup key upload and seals the key to the fleet; null when it does not authenticate. */
  escrowSealUpload(
    slot: string,
    i: { userId: string; sessionId: Uint8Array; nonce: Uint8Array; ciphertext: Uint8Array },
  ) {
    const r = this.#engine(slot).sealUpload(i);
    this.#audit.append('escrow-seal', slot, r ? 'ok' : 'failed');
    return r;
  }

  /** The sealed backup key re-encrypted under the session's release key, with the signed finish transcript. */
  escrowRelease(
    slot: string,
    i: { userId: string; sessionId: Uint8Array; sealedBackupKey: Uint8Array | null },
  ) {
    const r = this.#engine(slot).release(i);
    this.#audit.append('escrow-release', slot, i.sealedBackupKey ? 'key' : 'none');
    return r;
  }

  /** Authorises a replacement registration and seals the kept backup key for it; null when it does not verify. */
  escrowAuthorizeReplace(
    slot: string,
    i: {
      userId: string;
      sessionId: Uint8Array;
      ticket: Uint8Array;
      registrationRecord: Uint8Array;
      tag: Uint8Array;
      nonce: Uint8Array;
      ciphertext: Uint8Array;
    },
  ) {
    const r = this.#engine(slot).authorizeReplace(i);
    this.#audit.append('escrow-authorize', slot, `replace:${r ? 'ok' : 'failed'}`);
    return r;
  }

  /** The registration a session's delete authorisation was made for, or null when it does not verify. */
  escrowAuthorizeDelete(
    slot: string,
    i: { userId: string; sessionId: Uint8Array; tag: Uint8Array },
  ): Uint8Array | null {
    const r = this.#engine(slot).authorizeDelete(i);
    this.#audit.append('escrow-authorize', slot, `delete:${r ? 'ok' : 'failed'}`);
    return r;
  }

  /** Signs the acknowledgement of a committed register, replace, backup-key upload or delete. */
  escrowAcknowledge(slot: string, i: Parameters<OpaqueEngine['acknowledge']>[0]): Uint8Array {
    const signature = this.#engine(slot).acknowledge(i);
    this.#audit.append('escrow-ack', slot, i.operation);
    return signature;
  }

  /** Resolves when every audit entry so far is on stable storage. */
  flush(): Promise<void> {
    return this.#audit.flush();
  }

  /** Wipes key material this process can wipe, writes a final signed checkpoint and closes the log. */
  close(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#closed) return;
      this.#audit.append('close', '-');
      await this.#audit.close();
      this.#closed = true;
      for (const h of this.#slots.values()) {
        if (h.kind === 'symmetric') {
          h.key.fill(0);
          h.wrapKey.fill(0);
        } else if (h.kind === 'opaque-setup') {
          h.setup.fill(0);
          h.engine.clear();
        }
      }
      this.#slots.clear();
      this.#sealingKey.fill(0);
    });
  }
}
