// verifyFleetBundle: everything a client checks before it trusts a fleet deployment, each check a
// step that reports its own reason. Only when every step passes is the result valid; a step that
// cannot run (e.g. no directory proof in the bundle) is a failure, never a skip.
import { DEFAULT_LIMITS, decodeLookupProof } from '../akd/codec.ts';
import { AkdError } from '../akd/errors.ts';
import { DirectoryVerificationError } from '../directory/errors.ts';
import { verifyLookupResponse, verifySignedHead } from '../directory/verify.ts';
import { parseLookupResponse } from '../directory/wire.ts';
import { ctEqual } from '../hsm/bytes.ts';
import {
  type Certificate,
  CertificateError,
  type VerifyCertificateOptions,
  verifyCertificate,
} from '../hsm/certificate.ts';
import { decodeBundle, MAX_LOOKUP_PROOF_BYTES, type ValidationBundle } from './bundle.ts';
import { diffFleetStatements } from './diff.ts';
import {
  COUNTERSIGNATURE_PAYLOAD_TYPE,
  type DsseEnvelope,
  decodeCountersignaturePayload,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  IN_TOTO_PAYLOAD_TYPE,
  type VerifiedSignature,
  verifyEnvelope,
} from './dsse.ts';
import { AttestationError } from './errors.ts';
import {
  certificateFleetId,
  decodeStatement,
  directoryLabel,
  type FleetStatement,
  hsmKeyId,
  majorityQuorum,
} from './statement.ts';

export interface AttestationTrust {
  /** Ed25519 public keys of the operators allowed to attest deployments. */
  readonly operatorKeys: readonly Uint8Array[];
  /** Ed25519 public keys of the witnesses whose countersignature is accepted. */
  readonly witnessKeys: readonly Uint8Array[];
  /** Ed25519 public keys of the manufacturer CAs trusted to certify HSMs. */
  readonly manufacturerCaKeys: readonly Uint8Array[];
  readonly directory: {
    /** ECVRF public key of the fleet's KeyDirectory */
    readonly vrfPublicKey: Uint8Array;
    /** Ed25519 key that signs its epoch heads */
    readonly signingKey: Uint8Array;
  };
}

export interface VerifyFleetOptions {
  /** Unix milliseconds, the verifier's clock. */
  readonly now: number;
  /** How far the operator's and witness's clocks may be ahead of ours. */
  readonly maxClockSkewMs: number;
  /** The bundle this client last accepted for this fleet (rollback and fork detection). */
  readonly previous?: ValidationBundle;
}

export interface FleetVerification {
  readonly valid: boolean;
  /** Why not, one line per failed check, each starting with the check's name. */
  readonly reasons: readonly string[];
  /** What was verified, one line per check that passed. */
  readonly verified: readonly string[];
  /** Observations that are not failures (e.g. attestations the client never saw). */
  readonly notes: readonly string[];
  readonly statement?: FleetStatement;
  /** `sha256:<hex>` of the envelope. */
  readonly envelopeDigest?: string;
  readonly directoryEpoch?: number;
  /** Changes since the previous attestation (options.previous, else bundle.previous). */
  readonly changes?: readonly string[];
}

/** Runs one check; failures become reasons prefixed by the check's name. */
class Checks {
  readonly reasons: string[] = [];
  readonly verified: string[] = [];
  readonly notes: string[] = [];

  run<T>(name: string, check: () => T, passed?: (value: T) => string): T | undefined {
    try {
      const value = check();
      if (passed) this.verified.push(`${name}: ${passed(value)}`);
      return value;
    } catch (e) {
      if (
        e instanceof AttestationError ||
        e instanceof CertificateError ||
        e instanceof AkdError ||
        e instanceof DirectoryVerificationError
      ) {
        this.reasons.push(`${name}: ${e.message}`);
        return undefined;
      }
      throw e;
    }
  }

  fail(name: string, why: string): void {
    this.reasons.push(`${name}: ${why}`);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fail = (field: string, why: string): never => {
  throw new AttestationError(field, why);
};

/** Decodes and operator-verifies an envelope; used for the bundle and for the previous ones. */
function operatorStatement(
  c: Checks,
  name: string,
  envelope: DsseEnvelope,
  trust: AttestationTrust,
): { signature: VerifiedSignature; statement: FleetStatement } | undefined {
  const signature = c.run(
    name,
    () =>
      verifyEnvelope(envelope, IN_TOTO_PAYLOAD_TYPE, trust.operatorKeys, 'operator signature', 'operator'),
    (s) => `signed by trusted operator key ${s.keyid.slice(0, 16)}…`,
  );
  const statement = c.run(`${name} statement`, () => decodeStatement(envelopePayload(envelope)));
  return signature && statement ? { signature, statement } : undefined;
}

export function verifyFleetBundle(
  bundle: ValidationBundle,
  trust: AttestationTrust,
  options: VerifyFleetOptions,
): FleetVerification {
  const c = new Checks();
  const nowSeconds = Math.floor(options.now / 1000);
  const digest = envelopeDigest(bundle.envelope);
  const digestText = formatDigest(digest);

  const signature = c.run(
    'envelope',
    () =>
      verifyEnvelope(
        bundle.envelope,
        IN_TOTO_PAYLOAD_TYPE,
        trust.operatorKeys,
        'operator signature',
        'operator',
      ),
    (s) => `DSSE signature by trusted operator key ${s.keyid}`,
  );
  // As DSSE asks: nothing of an unauthenticated payload is parsed or acted upon.
  if (signature === undefined) return result(c, undefined, digestText, undefined, undefined);
  const statement = c.run(
    'statement',
    () => decodeStatement(envelopePayload(bundle.envelope)),
    (s) => `in-toto Statement v1, ${s.predicateType}, serial ${s.predicate.serial}`,
  );

  c.run(
    'countersignature',
    () => {
      const w = verifyEnvelope(
        bundle.countersignature,
        COUNTERSIGNATURE_PAYLOAD_TYPE,
        trust.witnessKeys,
        'witness signature',
        'witness',
      );
      const p = decodeCountersignaturePayload(envelopePayload(bundle.countersignature));
      if (p.envelopeDigest !== digestText)
        fail('envelopeDigest', `names ${p.envelopeDigest}, not this envelope (${digestText})`);
      const operator = bundle.envelope.signatures[0];
      if (
        operator === undefined ||
        p.operatorKeyid !== operator.keyid ||
        p.operatorSignature !== operator.sig
      ) {
        fail('operatorSignature', "is not the envelope's operator signature");
      }
      if (p.operatorSignature !== Buffer.from(signature.signature).toString('base64')) {
        fail('operatorSignature', 'countersigns a signature other than the one that verified');
      }
      if (p.witnessedAtMs > options.now + options.maxClockSkewMs) {
        fail('witnessedAt', `${p.witnessedAt} is in the future`);
      }
      return { keyid: w.keyid, at: p.witnessedAt };
    },
    (w) => `witness ${w.keyid.slice(0, 16)}… countersigned the operator signature at ${w.at}`,
  );

  if (statement) {
    const p = statement.predicate;
    c.run(
      'digest',
      () => {
        if (`sha256:${statement.subject[0].digest.sha256}` !== p.image.digest) {
          fail(
            'subject',
            `digest sha256:${statement.subject[0].digest.sha256} is not the image digest ${p.image.digest}`,
          );
        }
        if (statement.subject[0].name !== p.image.ref)
          fail('subject', `name is not the image ref ${p.image.ref}`);
        if (p.previousAttestationDigest === digestText)
          fail('previousAttestationDigest', 'names this envelope itself');
      },
      () => `envelope ${digestText}; subject = image ${p.image.ref} ${p.image.digest}`,
    );
    c.run(
      'freshness',
      () => {
        const created = Date.parse(p.createdAt);
        const expires = Date.parse(p.expiresAt);
        if (created > options.now + options.maxClockSkewMs)
          fail('createdAt', `${p.createdAt} is in the future`);
        if (options.now > expires) fail('expiresAt', `expired at ${p.expiresAt}`);
      },
      () => `created ${p.createdAt}, expires ${p.expiresAt}`,
    );
    verifyMembers(c, trust, statement, nowSeconds);
    c.run(
      'fleet',
      () => {
        const n = p.members.length;
        if (p.quorum !== majorityQuorum(n))
          fail('quorum', `${p.quorum} is not a majority of ${n} members (${majorityQuorum(n)})`);
        if (new Set(p.zones).size !== p.zones.length) fail('zones', 'a zone is listed twice');
        if (new Set(p.members.map((m) => m.id)).size !== n) fail('members', 'a member id is listed twice');
        const memberZones = p.members.map((m) => m.zone);
        if (new Set(memberZones).size !== n)
          fail('members', 'two members share a zone (one member per zone)');
        for (const m of p.members)
          if (!p.zones.includes(m.zone))
            fail('members', `${m.id} is in zone ${m.zone}, which is not a fleet zone`);
        if (p.zones.length !== n)
          fail('zones', `${p.zones.length} zones for ${n} members (one member per zone)`);
        if (p.directory.label !== directoryLabel(p.fleet))
          fail('directory.label', `must be ${directoryLabel(p.fleet)}`);
      },
      () =>
        `${p.members.length} members in ${p.zones.length} zones, quorum ${p.quorum}, guess limit ${p.guessLimit}`,
    );
    const changes = verifyHistory(c, bundle, trust, options, statement, digestText);
    const epoch = verifyInclusion(c, bundle, trust, statement, digest);
    return result(c, statement, digestText, epoch, changes);
  }
  return result(c, undefined, digestText, undefined, undefined);
}

function result(
  c: Checks,
  statement: FleetStatement | undefined,
  digest: string,
  epoch: number | undefined,
  changes: string[] | undefined,
): FleetVerification {
  return {
    valid: c.reasons.length === 0,
    reasons: c.reasons,
    verified: c.verified,
    notes: c.notes,
    ...(statement ? { statement } : {}),
    envelopeDigest: digest,
    ...(epoch !== undefined ? { directoryEpoch: epoch } : {}),
    ...(changes ? { changes } : {}),
  };
}

/** The directory logs the envelope digest under fleet/<ns>/<name>, proven at a signed epoch. */
function verifyInclusion(
  c: Checks,
  bundle: ValidationBundle,
  trust: AttestationTrust,
  statement: FleetStatement,
  digest: Uint8Array,
): number | undefined {
  const inclusion = bundle.directoryInclusion;
  if (inclusion === undefined) {
    c.fail('directory inclusion', 'not verified: the bundle carries no directory lookup proof');
    return undefined;
  }
  const d = statement.predicate.directory;
  return c.run(
    'directory inclusion',
    () => {
      const directory = {
        vrfPublicKey: trust.directory.vrfPublicKey,
        signingPublicKey: trust.directory.signingKey,
        namespace: `${d.namespace}/${d.name}`,
      };
      const response = parseLookupResponse(inclusion.lookup, MAX_LOOKUP_PROOF_BYTES);
      const head = verifySignedHead(response.head, directory);
      if (inclusion.epoch !== head.epoch)
        fail('epoch', `${inclusion.epoch} is not the signed head's epoch ${head.epoch}`);
      // The cheap comparison first: a proof for another value fails without the VRF checks.
      const proof = decodeLookupProof(response.proof, {
        ...DEFAULT_LIMITS.lookup,
        maxBytes: MAX_LOOKUP_PROOF_BYTES,
      });
      if (!ctEqual(proof.value, digest)) {
        fail(
          'value',
          `the directory logs ${hex(proof.value).slice(0, 64)} under ${d.label}, not this envelope's digest`,
        );
      }
      // The Merkle paths and VRF proofs cost milliseconds; they are checked only for a bundle
      // that passed everything else, so a forged bundle cannot make a client do that work.
      if (c.reasons.length > 0) {
        fail('lookup proof', 'not verified, because the checks above failed');
      }
      verifyLookupResponse(directory, head, response, d.label);
      return head.epoch;
    },
    (epoch) => `envelope digest logged under ${d.label} (lookup proof at signed epoch ${epoch})`,
  );
}

// verifyCertificate is pure, and its key checks cost a millisecond or more per certificate: a
// client re-verifying the same fleet (or a test re-verifying one bundle) reuses the outcome for
// exactly the same certificate, anchors, subject and second.
const certificateOutcomes = new Map<string, Certificate | CertificateError>();
const CERTIFICATE_OUTCOMES_MAX = 256;

function verifyCertificateOnce(
  bytes: Uint8Array,
  o: VerifyCertificateOptions & { fleet: string; member: string },
): Certificate {
  const key = [hex(bytes), ...o.trustAnchors.map(hex), o.now, o.fleet, o.member].join(' ');
  let outcome = certificateOutcomes.get(key);
  if (outcome === undefined) {
    try {
      outcome = verifyCertificate(bytes, o);
    } catch (e) {
      if (!(e instanceof CertificateError)) throw e;
      outcome = e;
    }
    if (certificateOutcomes.size >= CERTIFICATE_OUTCOMES_MAX) {
      certificateOutcomes.delete(certificateOutcomes.keys().next().value as string);
    }
    certificateOutcomes.set(key, outcome);
  }
  if (outcome instanceof CertificateError) throw outcome;
  return outcome;
}

/** Each member's HSM certificate verifies against a trusted manufacturer CA for its subject. */
function verifyMembers(
  c: Checks,
  trust: AttestationTrust,
  statement: FleetStatement,
  nowSeconds: number,
): void {
  const p = statement.predicate;
  c.run(
    'manufacturer CA',
    () => {
      if (!trust.manufacturerCaKeys.some((k) => hex(k) === p.manufacturerCaPublicKey)) {
        fail('manufacturerCaPublicKey', 'is not a trusted manufacturer CA');
      }
    },
    () => `${p.manufacturerCaPublicKey.slice(0, 16)}… is trusted`,
  );
  const fleet = certificateFleetId(p.fleet);
  for (const m of p.members) {
    c.run(
      `member ${m.id}`,
      () => {
        const bytes = new Uint8Array(Buffer.from(m.hsmCertificate, 'base64url'));
        const cert = verifyCertificateOnce(bytes, {
          trustAnchors: trust.manufacturerCaKeys,
          now: nowSeconds,
          fleet,
          member: m.id,
        });
        if (cert.subject.zone !== m.zone)
          fail('zone', `the certificate is for zone ${cert.subject.zone}, not ${m.zone}`);
        if (hex(cert.identityPublicKey) !== m.identityKey)
          fail('identityKey', 'is not the certified identity key');
        if (hsmKeyId(cert.identityPublicKey) !== m.hsmKeyId)
          fail('hsmKeyId', 'is not SHA-256 of the certified identity key');
      },
      () =>
        `HSM certificate chain verifies (fleet ${fleet}, zone ${m.zone}, key ${m.hsmKeyId.slice(0, 16)}…)`,
    );
  }
}

/** Rollback and fork detection against the client's last bundle; the diff for people. */
function verifyHistory(
  c: Checks,
  bundle: ValidationBundle,
  trust: AttestationTrust,
  options: VerifyFleetOptions,
  statement: FleetStatement,
  digestText: string,
): string[] | undefined {
  const p = statement.predicate;
  let chained: FleetStatement | undefined;
  if (bundle.previous) {
    const prev = operatorStatement(c, 'previous', bundle.previous.envelope, trust);
    const prevDigest = formatDigest(envelopeDigest(bundle.previous.envelope));
    c.run(
      'chain',
      () => {
        if (p.previousAttestationDigest !== prevDigest) {
          fail(
            'previousAttestationDigest',
            `${p.previousAttestationDigest} does not name the bundled previous envelope ${prevDigest}`,
          );
        }
        if (prev && prev.statement.predicate.serial >= p.serial)
          fail('serial', 'does not increase over the bundled previous attestation');
      },
      () => `previous attestation ${prevDigest}`,
    );
    chained = prev?.statement;
  }
  let lastSeen: FleetStatement | undefined;
  if (options.previous) {
    const last = options.previous;
    const lastDigest = formatDigest(envelopeDigest(last.envelope));
    lastSeen = operatorStatement(c, 'last seen', last.envelope, trust)?.statement;
    if (lastSeen) {
      const q = lastSeen.predicate;
      const name = 'rollback';
      c.run(
        name,
        () => {
          if (q.fleet.uid !== p.fleet.uid)
            fail(
              'fleet',
              `the last seen bundle is for fleet ${q.fleet.namespace}/${q.fleet.name} (${q.fleet.uid})`,
            );
          if (lastDigest === digestText) return 'the same attestation as last seen';
          if (p.serial === q.serial)
            fail(
              'fork',
              `serial ${p.serial} was already attested as ${lastDigest}; this bundle has ${digestText}`,
            );
          if (p.serial < q.serial)
            fail('serial', `${p.serial} is older than the last seen serial ${q.serial}`);
          if (p.serial === q.serial + 1 && p.previousAttestationDigest !== lastDigest) {
            fail(
              'previousAttestationDigest',
              `serial ${p.serial} does not chain to the last seen ${lastDigest} (fork)`,
            );
          }
          if (p.serial > q.serial + 1) {
            c.notes.push(
              `${p.serial - q.serial - 1} attestation(s) between the last seen serial ${q.serial} and ${p.serial} were not seen`,
            );
          }
          return `serial ${q.serial} -> ${p.serial}`;
        },
        (s) => s,
      );
    }
  }
  const base = lastSeen ?? chained;
  return base ? diffFleetStatements(base, statement) : undefined;
}

/** Decodes bundle bytes (as fetched) and verifies them; a malformed bundle is a reason, not a throw. */
export function verifyFleetBundleBytes(
  bytes: Uint8Array,
  trust: AttestationTrust,
  options: VerifyFleetOptions,
): FleetVerification {
  let bundle: ValidationBundle;
  try {
    bundle = decodeBundle(bytes);
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    return { valid: false, reasons: [`bundle: ${e.message}`], verified: [], notes: [] };
  }
  return verifyFleetBundle(bundle, trust, options);
}
