// The fleet-deployment attestation statement: an in-toto Statement v1 whose subject is the
// vault-node image and whose predicate says which HSMs, keys and limits make up the fleet.
// buildFleetStatement() is pure (the operator calls it); decodeStatement() is what verifiers use:
// strict schema, size limits, and the payload must be exactly the canonical JSON it decodes to.
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeCertificate } from '../hsm/certificate.ts';
import { MEMBER_ID_PATTERN, ZONE_PATTERN } from '../hsm/ids.ts';
import { canonicalJsonBytes, parseJsonBytes } from './canonical-json.ts';
import { AttestationError } from './errors.ts';
import {
  array,
  base64urlBytes,
  formatTimestamp,
  HEX32,
  hexBytes,
  integer,
  object,
  string,
  timestamp,
} from './strict.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const FLEET_DEPLOYMENT_PREDICATE_TYPE = 'https://keyfleet.dev/attestation/fleet-deployment/v1';
export const MAX_STATEMENT_BYTES = 256 * 1024;
export const MAX_MEMBERS = 64;
export const MAX_CERTIFICATE_BYTES = 1024;
/** An attestation valid for longer than this is refused: expiry is what bounds a stale bundle. */
export const MAX_VALIDITY_SECONDS = 366 * 24 * 3600;

const K8S_NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const K8S_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const DIRECTORY_LABEL = /^fleet\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface FleetIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface AttestedMember {
  readonly id: string;
  readonly zone: string;
  /** base64url of the HSM certificate (sdk/src/hsm/CHAIN.md). */
  readonly hsmCertificate: string;
  /** hex of the certified Ed25519 identity key. */
  readonly identityKey: string;
  /** hex SHA-256 of the identity key: a short, stable name for the member's HSM key. */
  readonly hsmKeyId: string;
}

export interface FleetDeploymentPredicate {
  readonly fleet: FleetIdentity;
  readonly generation: number;
  /** Increases by at least one with every attestation of this fleet. */
  readonly serial: number;
  readonly zones: readonly string[];
  readonly quorum: number;
  readonly guessLimit: number;
  readonly members: readonly AttestedMember[];
  /** hex Ed25519 public key of the manufacturer CA that certified the members' HSMs. */
  readonly manufacturerCaPublicKey: string;
  /** hex of the fleet's OPAQUE server public key. */
  readonly opaqueServerPublicKey: string;
  readonly image: { readonly ref: string; readonly digest: string };
  readonly createdAt: string;
  readonly expiresAt: string;
  /** `sha256:<hex>` of the previous attestation's envelope (envelopeDigest), null for the first. */
  readonly previousAttestationDigest: string | null;
  readonly directory: { readonly namespace: string; readonly name: string; readonly label: string };
}

export interface FleetStatement {
  readonly _type: typeof STATEMENT_TYPE;
  readonly subject: readonly [{ readonly name: string; readonly digest: { readonly sha256: string } }];
  readonly predicateType: typeof FLEET_DEPLOYMENT_PREDICATE_TYPE;
  readonly predicate: FleetDeploymentPredicate;
}

export interface FleetStatementInput {
  readonly fleet: FleetIdentity;
  readonly generation: number;
  readonly serial: number;
  readonly zones: readonly string[];
  readonly guessLimit: number;
  /** Member id and zone, with the certificate its HSM was issued. */
  readonly members: readonly {
    readonly id: string;
    readonly zone: string;
    readonly certificate: Uint8Array;
  }[];
  readonly manufacturerCaPublicKey: Uint8Array;
  readonly opaqueServerPublicKey: Uint8Array;
  /** Image reference and its `sha256:<hex>` digest. */
  readonly image: { readonly ref: string; readonly digest: string };
  /** Unix milliseconds, whole seconds. */
  readonly createdAt: number;
  readonly expiresAt: number;
  /** envelopeDigest() of the previous attestation, or null for the first. */
  readonly previousAttestationDigest: Uint8Array | null;
  readonly directory: { readonly namespace: string; readonly name: string };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The fleet id the members' certificates are issued for. */
export function certificateFleetId(fleet: { readonly namespace: string; readonly name: string }): string {
  return `${fleet.namespace}/${fleet.name}`;
}

export function directoryLabel(fleet: { readonly namespace: string; readonly name: string }): string {
  return `fleet/${fleet.namespace}/${fleet.name}`;
}

/** hsmKeyId of an identity key: hex SHA-256 of its 32 bytes. */
export function hsmKeyId(identityKey: Uint8Array): string {
  return hex(sha256(identityKey));
}

export function majorityQuorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** Builds the statement from the operator's view of the fleet; throws if it would not decode. */
export function buildFleetStatement(input: FleetStatementInput): FleetStatement {
  const members = input.members.map((m) => {
    const cert = decodeCertificate(m.certificate);
    return {
      id: m.id,
      zone: m.zone,
      hsmCertificate: Buffer.from(m.certificate).toString('base64url'),
      identityKey: hex(cert.identityPublicKey),
      hsmKeyId: hsmKeyId(cert.identityPublicKey),
    };
  });
  const statement: FleetStatement = {
    _type: STATEMENT_TYPE,
    subject: [{ name: input.image.ref, digest: { sha256: input.image.digest.replace(/^sha256:/, '') } }],
    predicateType: FLEET_DEPLOYMENT_PREDICATE_TYPE,
    predicate: {
      fleet: { ...input.fleet },
      generation: input.generation,
      serial: input.serial,
      zones: [...input.zones],
      quorum: majorityQuorum(members.length),
      guessLimit: input.guessLimit,
      members,
      manufacturerCaPublicKey: hex(input.manufacturerCaPublicKey),
      opaqueServerPublicKey: hex(input.opaqueServerPublicKey),
      image: { ...input.image },
      createdAt: formatTimestamp(input.createdAt),
      expiresAt: formatTimestamp(input.expiresAt),
      previousAttestationDigest:
        input.previousAttestationDigest === null ? null : `sha256:${hex(input.previousAttestationDigest)}`,
      directory: { ...input.directory, label: directoryLabel(input.fleet) },
    },
  };
  decodeStatement(encodeStatement(statement));
  return statement;
}

export function encodeStatement(statement: FleetStatement): Uint8Array {
  return canonicalJsonBytes(statement);
}

function decodeMember(value: unknown, field: string): AttestedMember {
  const m = object(value, field, ['id', 'zone', 'hsmCertificate', 'identityKey', 'hsmKeyId']);
  return {
    id: string(m.id, `${field}.id`, MEMBER_ID_PATTERN, 63),
    zone: string(m.zone, `${field}.zone`, ZONE_PATTERN, 63),
    hsmCertificate: (() => {
      base64urlBytes(m.hsmCertificate, `${field}.hsmCertificate`, MAX_CERTIFICATE_BYTES);
      return m.hsmCertificate as string;
    })(),
    identityKey: string(m.identityKey, `${field}.identityKey`, HEX32, 64),
    hsmKeyId: string(m.hsmKeyId, `${field}.hsmKeyId`, HEX32, 64),
  };
}

function decodePredicate(value: unknown): FleetDeploymentPredicate {
  const f = 'predicate';
  const p = object(value, f, [
    'fleet',
    'generation',
    'serial',
    'zones',
    'quorum',
    'guessLimit',
    'members',
    'manufacturerCaPublicKey',
    'opaqueServerPublicKey',
    'image',
    'createdAt',
    'expiresAt',
    'previousAttestationDigest',
    'directory',
  ]);
  const fleet = object(p.fleet, `${f}.fleet`, ['namespace', 'name', 'uid']);
  const image = object(p.image, `${f}.image`, ['ref', 'digest']);
  const directory = object(p.directory, `${f}.directory`, ['namespace', 'name', 'label']);
  const createdAt = timestamp(p.createdAt, `${f}.createdAt`);
  const expiresAt = timestamp(p.expiresAt, `${f}.expiresAt`);
  if (expiresAt.ms <= createdAt.ms) throw new AttestationError(`${f}.expiresAt`, 'must be after createdAt');
  if (expiresAt.ms - createdAt.ms > MAX_VALIDITY_SECONDS * 1000) {
    throw new AttestationError(`${f}.expiresAt`, `more than ${MAX_VALIDITY_SECONDS} s after createdAt`);
  }
  return {
    fleet: {
      namespace: string(fleet.namespace, `${f}.fleet.namespace`, K8S_NAMESPACE, 63),
      name: string(fleet.name, `${f}.fleet.name`, K8S_NAME, 253),
      uid: string(fleet.uid, `${f}.fleet.uid`, K8S_UID, 36),
    },
    generation: integer(p.generation, `${f}.generation`, 1, Number.MAX_SAFE_INTEGER),
    serial: integer(p.serial, `${f}.serial`, 1, Number.MAX_SAFE_INTEGER),
    zones: array(p.zones, `${f}.zones`, 1, MAX_MEMBERS).map((z, i) =>
      string(z, `${f}.zones[${i}]`, ZONE_PATTERN, 63),
    ),
    quorum: integer(p.quorum, `${f}.quorum`, 1, MAX_MEMBERS),
    guessLimit: integer(p.guessLimit, `${f}.guessLimit`, 1, 1000),
    members: array(p.members, `${f}.members`, 1, MAX_MEMBERS).map((m, i) =>
      decodeMember(m, `${f}.members[${i}]`),
    ),
    manufacturerCaPublicKey: string(p.manufacturerCaPublicKey, `${f}.manufacturerCaPublicKey`, HEX32, 64),
    opaqueServerPublicKey: string(p.opaqueServerPublicKey, `${f}.opaqueServerPublicKey`, HEX32, 64),
    image: {
      ref: string(image.ref, `${f}.image.ref`, IMAGE_REF, 512),
      digest: string(image.digest, `${f}.image.digest`, SHA256_DIGEST, 71),
    },
    createdAt: createdAt.text,
    expiresAt: expiresAt.text,
    previousAttestationDigest:
      p.previousAttestationDigest === null
        ? null
        : string(p.previousAttestationDigest, `${f}.previousAttestationDigest`, SHA256_DIGEST, 71),
    directory: {
      namespace: string(directory.namespace, `${f}.directory.namespace`, K8S_NAMESPACE, 63),
      name: string(directory.name, `${f}.directory.name`, K8S_NAME, 253),
      label: string(directory.label, `${f}.directory.label`, DIRECTORY_LABEL, 330),
    },
  };
}

/** Parses and validates a statement payload; throws AttestationError saying which field is wrong. */
export function decodeStatement(bytes: Uint8Array): FleetStatement {
  const s = object(parseJsonBytes(bytes, MAX_STATEMENT_BYTES, 'statement'), 'statement', [
    '_type',
    'subject',
    'predicateType',
    'predicate',
  ]);
  if (s._type !== STATEMENT_TYPE) throw new AttestationError('statement._type', `must be ${STATEMENT_TYPE}`);
  if (s.predicateType !== FLEET_DEPLOYMENT_PREDICATE_TYPE) {
    throw new AttestationError('statement.predicateType', `must be ${FLEET_DEPLOYMENT_PREDICATE_TYPE}`);
  }
  const subjects = array(s.subject, 'statement.subject', 1, 1);
  const subject = object(subjects[0], 'statement.subject[0]', ['name', 'digest']);
  const digest = object(subject.digest, 'statement.subject[0].digest', ['sha256']);
  const statement: FleetStatement = {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: string(subject.name, 'statement.subject[0].name', IMAGE_REF, 512),
        digest: { sha256: string(digest.sha256, 'statement.subject[0].digest.sha256', HEX32, 64) },
      },
    ],
    predicateType: FLEET_DEPLOYMENT_PREDICATE_TYPE,
    predicate: decodePredicate(s.predicate),
  };
  const canonical = encodeStatement(statement);
  if (Buffer.compare(canonical, bytes) !== 0) {
    throw new AttestationError('statement', 'is not in canonical JSON form (sorted keys, no whitespace)');
  }
  return statement;
}

/** The subject digest as bytes (verify checks it against the image digest). */
export function subjectDigest(statement: FleetStatement): Uint8Array {
  return hexBytes(statement.subject[0].digest.sha256, 'statement.subject[0].digest.sha256');
}
