// The I/O of a fleet's attestation, one pass at a time (the decisions are attestation-plan.ts):
// read the record, take the step it calls for, write the record back before anything is sent on,
// and report the Attested condition, status.attestation and when to look again. A pass never
// blocks waiting for the directory: it requeues until an epoch includes the change.
//
// Before a bundle is published the operator verifies it exactly as a client would
// (verifyFleetBundle, with the keys the KeyDirectory's status lists), so it never publishes a
// bundle that clients would reject.
//
// The attestation files of this controller:
//   attestation-key.ts           the fleet's attestation key Secret and its `<kd>-attestation-signers` entry
//   attestation-certificates.ts  the record of the HSM certificates the operator issued
//   attestation-inputs.ts        what the attestation says, from the observation (image digest rules)
//   attestation-plan.ts          the durable record in `<fleet>-attestation` and the next step
//   attestation-directory.ts     HTTP to the KeyDirectory's witness, publisher and reader pods
//   attestation-publisher.ts     this file: the pass
// Objects: Secret `<fleet>-attestation-key`; ConfigMaps `<fleet>-attestation` (bundle.json,
// pending.json), `<fleet>-member-certificates`, and this fleet's key in `<kd>-attestation-signers`.
// Attested condition reasons: Attested (True); NoDirectory, InvalidValidity, RecordDamaged,
// the NotAttestable reasons of attestation-inputs.ts, DirectoryNotFound, WaitingForWitness,
// WaitingForWitnessKey, WitnessUnavailable, WitnessRefused, WaitingForDirectory,
// WaitingForDirectoryEpoch, DirectoryRefused, BundleInvalid, AttestationFailed (False).
// WitnessRefused, DirectoryRefused, BundleInvalid and RecordDamaged need a person: the operator
// will not fork the fleet's history to get past them.

import { DEFAULT_LIMITS, decodeLookupProof } from '@keyfleet/sdk/akd/codec';
import type { KeyDirectory, VaultFleet, VaultFleetStatus } from '@keyfleet/sdk/api/index';
import { bundleFor, directoryChange, signFleetStatement } from '@keyfleet/sdk/attestation/attest';
import { MAX_LOOKUP_PROOF_BYTES } from '@keyfleet/sdk/attestation/bundle';
import {
  COUNTERSIGNATURE_PAYLOAD_TYPE,
  type DsseEnvelope,
  decodeCountersignaturePayload,
  decodeEnvelope,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  MAX_COUNTERSIGNATURE_PAYLOAD_BYTES,
  verifyEnvelope,
} from '@keyfleet/sdk/attestation/dsse';
import { ed25519Signer } from '@keyfleet/sdk/attestation/ed25519';
import { buildFleetStatement } from '@keyfleet/sdk/attestation/statement';
import { verifyFleetBundle } from '@keyfleet/sdk/attestation/verify';
import { parseLookupResponse } from '@keyfleet/sdk/directory/wire';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import type { Logger } from '../../log.ts';
import type { KubeClient } from '../../runtime/client.ts';
import type { EventType } from '../../runtime/events.ts';
import { builtin, type Unstructured } from '../../runtime/resource.ts';
import { fleetLabels, fleetName, fleetNamespace, ownedMeta } from '../../specs/labels.ts';
import { attestationConfigMapName, memberCertificatesName } from '../../specs/names.ts';
import { keyDirectoryType } from '../keydirectory/reconcile.ts';
import { readMemberCertificates } from './attestation-certificates.ts';
import {
  DirectoryCallError,
  lookupLabel,
  postDirectoryChange,
  readyDirectoryUrls,
  requestCountersignature,
} from './attestation-directory.ts';
import { type AttestationObservation, attestedDeployment } from './attestation-inputs.ts';
import { attestationSignersPatch, signerFieldManager } from './attestation-key.ts';
import {
  type AttestationRecord,
  attestationRecordData,
  attestationStatus,
  nextAttestationStep,
  type PendingAttestation,
  parseValidity,
  previousEnvelopeFor,
  readAttestationRecord,
} from './attestation-plan.ts';
import type { ComputedCondition } from './conditions.ts';

/** The field manager of the record in ConfigMap `<fleet>-attestation`. */
export const ATTESTATION_RECORD_MANAGER = 'keyfleet-attestation-record';

/** How soon to look again while an attestation is in progress (waiting for an epoch, a witness). */
export const ATTESTATION_REQUEUE_MS = 2_000;
/** How far the clocks of the operator, witness and directory may differ in the self-check. */
const SELF_CHECK_SKEW_MS = 300_000;

export type AttestationSnapshot = Omit<
  AttestationObservation,
  'certificates' | 'directory' | 'fleetId' | 'manufacturerCaPublicKey'
>;

export interface AttestationPass {
  readonly fleet: VaultFleet;
  /** What the reconcile observed (attestation-inputs.ts), without what this module reads itself. */
  readonly observed: AttestationSnapshot;
  readonly directoryPods: readonly V1Pod[];
  readonly manufacturerCaSeed: Uint8Array;
  readonly attestationSeed: Uint8Array;
  readonly signal: AbortSignal;
}

export interface AttestationOutcome {
  readonly condition: ComputedCondition;
  /** status.attestation to write; undefined keeps what is stored. */
  readonly status?: NonNullable<VaultFleetStatus['attestation']>;
  readonly requeueAfter?: number;
}

export interface AttestorDeps {
  readonly client: KubeClient;
  readonly now: () => Date;
  readonly event: (fleet: VaultFleet, type: EventType, reason: string, note: string) => void;
  readonly log: Logger;
}

const asUnstructured = (o: unknown) => o as Unstructured;

/** A step that cannot go on this pass, and how the condition says so. */
class Halt extends Error {
  readonly reason: string;
  readonly requeue: boolean;
  constructor(reason: string, message: string, requeue: boolean) {
    super(message);
    this.reason = reason;
    this.requeue = requeue;
  }
}

export class FleetAttestor {
  readonly #d: AttestorDeps;

  constructor(deps: AttestorDeps) {
    this.#d = deps;
  }

  async attest(p: AttestationPass): Promise<AttestationOutcome> {
    const { fleet } = p;
    const generation = fleet.metadata.generation ?? 0;
    const cond = (status: 'True' | 'False', reason: string, message: string): ComputedCondition => ({
      type: 'Attested',
      status,
      reason,
      message,
      observedGeneration: generation,
    });
    const kd = fleet.spec.directoryRef?.name;
    if (kd === undefined) {
      return {
        condition: cond(
          'False',
          'NoDirectory',
          'spec.directoryRef names no KeyDirectory to log attestations in',
        ),
      };
    }
    const validityMs = parseValidity(fleet.spec.attestation.validity);
    if (validityMs === undefined) {
      return {
        condition: cond(
          'False',
          'InvalidValidity',
          `spec.attestation.validity ${fleet.spec.attestation.validity} is not a duration between 1h and 8760h`,
        ),
      };
    }
    const client = this.#d.client;
    const ns = fleetNamespace(fleet);
    const signer = ed25519Signer(p.attestationSeed);
    await client.apply(
      builtin.configMap,
      asUnstructured(attestationSignersPatch(fleet, kd, signer.publicKey)),
      {
        signal: p.signal,
        fieldManager: signerFieldManager(fleet),
      },
    );
    const cmName = attestationConfigMapName(fleetName(fleet));
    let cm = (await client.tryGet(builtin.configMap, ns, cmName, p.signal)) as V1ConfigMap | undefined;
    let record: AttestationRecord;
    try {
      record = readAttestationRecord(cm?.data);
    } catch (e) {
      // Never overwritten: it may hold an envelope a witness already countersigned.
      return {
        condition: cond(
          'False',
          'RecordDamaged',
          `ConfigMap ${cmName}: ${(e as Error).message}; a person must repair or delete it`,
        ),
      };
    }
    const certificates = readMemberCertificates(
      (await client.tryGet(builtin.configMap, ns, memberCertificatesName(fleetName(fleet)), p.signal)) as
        | V1ConfigMap
        | undefined,
    );
    const deployment = attestedDeployment({
      ...p.observed,
      certificates,
      fleetId: `${ns}/${fleetName(fleet)}`,
      manufacturerCaPublicKey: ed25519.getPublicKey(p.manufacturerCaSeed),
      directory: { namespace: ns, name: kd },
    });
    const write = async (data: Record<string, string>): Promise<void> => {
      cm = await applyAttestationRecord(client, fleet, cm, data, p.signal);
    };
    const published = () => (record.published ? attestationStatus(record.published, cmName) : undefined);
    const withStatus = (o: { condition: ComputedCondition; requeueAfter?: number }): AttestationOutcome => {
      const status = published();
      return status === undefined ? o : { ...o, status };
    };

    try {
      for (let i = 0; i < 4; i++) {
        const step = nextAttestationStep(record, deployment, {
          fleet: { namespace: ns, name: fleetName(fleet), uid: fleet.metadata.uid as string },
          generation,
          nowMs: this.#d.now().getTime(),
          validityMs,
          ...(fleet.status?.attestation ? { lastKnown: fleet.status.attestation } : {}),
        });
        switch (step.kind) {
          case 'none': {
            const s = published();
            return withStatus({
              condition: cond(
                'True',
                'Attested',
                `serial ${s?.serial} (${s?.digest}) logged at directory epoch ${s?.directoryEpoch}; expires ${s?.expiresAt}`,
              ),
            });
          }
          case 'wait':
            return withStatus({ condition: cond('False', step.why.reason, step.why.message) });
          case 'sign': {
            const statement = buildFleetStatement(step.input);
            const envelope = signFleetStatement(statement, signer);
            await write(attestationRecordData(record.published?.bundle, { envelope }));
            record = { ...record, pending: { envelope, statement } };
            this.#d.event(
              fleet,
              'Normal',
              'AttestationSigned',
              `signed attestation serial ${step.input.serial} (${formatDigest(envelopeDigest(envelope))}): ${step.change.reason}: ${step.change.message}`,
            );
            break;
          }
          case 'countersign': {
            const countersignature = await this.#countersign(p, kd, step.pending);
            await write(
              attestationRecordData(record.published?.bundle, {
                envelope: step.pending.envelope,
                countersignature,
              }),
            );
            record = { ...record, pending: { ...step.pending, countersignature } };
            break;
          }
          case 'log': {
            const done = await this.#log(p, kd, record, step.pending);
            if (done === undefined) {
              return withStatus({
                condition: cond(
                  'False',
                  'WaitingForDirectoryEpoch',
                  `serial ${step.pending.statement.predicate.serial} is countersigned; waiting for a directory epoch that logs it`,
                ),
                requeueAfter: ATTESTATION_REQUEUE_MS,
              });
            }
            await write(attestationRecordData(done.bundle, undefined));
            record = { published: done };
            const s = attestationStatus(done, cmName);
            this.#d.event(
              fleet,
              'Normal',
              'Attested',
              `published attestation serial ${s.serial} (${s.digest}), logged at directory ${kd} epoch ${s.directoryEpoch}, expires ${s.expiresAt}`,
            );
            break;
          }
        }
      }
      return withStatus({
        condition: cond('False', 'Attesting', 'attestation in progress'),
        requeueAfter: ATTESTATION_REQUEUE_MS,
      });
    } catch (e) {
      if (e instanceof Halt) {
        return withStatus({
          condition: cond('False', e.reason, e.message),
          ...(e.requeue ? { requeueAfter: ATTESTATION_REQUEUE_MS } : {}),
        });
      }
      throw e;
    }
  }

  async #keyDirectory(p: AttestationPass, kd: string): Promise<KeyDirectory> {
    const dir = (await this.#d.client.tryGet(keyDirectoryType, fleetNamespace(p.fleet), kd, p.signal)) as
      | KeyDirectory
      | undefined;
    if (dir === undefined) throw new Halt('DirectoryNotFound', `KeyDirectory ${kd} does not exist`, true);
    return dir;
  }

  /** A countersignature from the first Ready witness that gives one, checked against its listed key. */
  async #countersign(p: AttestationPass, kd: string, pending: PendingAttestation): Promise<DsseEnvelope> {
    const dir = await this.#keyDirectory(p, kd);
    const witnessKeys = witnessKeysOf(dir);
    if (witnessKeys.length === 0)
      throw new Halt('WaitingForWitness', `KeyDirectory ${kd} lists no witness keys yet`, true);
    const urls = readyDirectoryUrls(p.directoryPods, kd, 'witness');
    if (urls.length === 0)
      throw new Halt('WaitingForWitness', `KeyDirectory ${kd} has no Ready witness pod`, true);
    const problems: string[] = [];
    for (const url of urls) {
      try {
        const cs = decodeEnvelope(
          await requestCountersignature(url, pending.envelope, p.signal),
          'countersignature',
          MAX_COUNTERSIGNATURE_PAYLOAD_BYTES,
        );
        verifyEnvelope(cs, COUNTERSIGNATURE_PAYLOAD_TYPE, witnessKeys, 'countersignature', 'witness');
        const body = decodeCountersignaturePayload(envelopePayload(cs));
        if (
          body.envelopeDigest !== formatDigest(envelopeDigest(pending.envelope)) ||
          body.operatorSignature !== pending.envelope.signatures[0]?.sig
        ) {
          throw new Error('the countersignature names another envelope or signature');
        }
        return cs;
      } catch (e) {
        if (e instanceof DirectoryCallError && e.status === 409) {
          // The witness has countersigned a later serial or another envelope for this one: going
          // on would fork the fleet's history. A person must look (the record keeps the envelope).
          throw new Halt('WitnessRefused', `${e.message}`, false);
        }
        problems.push((e as Error).message);
      }
    }
    const untrusted = problems.every((m) => m.includes('untrusted_signer') || m.includes('wrong_signer'));
    throw new Halt(
      untrusted ? 'WaitingForWitnessKey' : 'WitnessUnavailable',
      untrusted
        ? `the witnesses do not know this fleet's attestation key yet (the signers ConfigMap reaches them within a minute): ${problems[0]}`
        : `no witness countersigned: ${problems.join('; ')}`,
      true,
    );
  }

  /** Logs the pending attestation; the published record once an epoch includes it, else undefined. */
  async #log(
    p: AttestationPass,
    kd: string,
    record: AttestationRecord,
    pending: PendingAttestation & { countersignature: DsseEnvelope },
  ) {
    const change = directoryChange(pending.statement, pending.envelope);
    const [publisher] = readyDirectoryUrls(p.directoryPods, kd, 'publisher');
    if (publisher === undefined)
      throw new Halt('WaitingForDirectory', `KeyDirectory ${kd} has no Ready publisher pod`, true);
    try {
      await postDirectoryChange(publisher, change, p.signal);
    } catch (e) {
      if (e instanceof DirectoryCallError && e.status === 409)
        throw new Halt('DirectoryRefused', e.message, false);
      throw new Halt('WaitingForDirectory', (e as Error).message, true);
    }
    const readers = [...readyDirectoryUrls(p.directoryPods, kd, 'reader'), publisher];
    const digest = envelopeDigest(pending.envelope);
    let lookup: Awaited<ReturnType<typeof lookupLabel>>;
    try {
      lookup = await lookupLabel(readers[0] as string, change.username, p.signal);
    } catch (e) {
      throw new Halt('WaitingForDirectory', (e as Error).message, true);
    }
    if (lookup === undefined || !equalBytes(loggedValue(lookup), digest)) return undefined;
    const previous = previousEnvelopeFor(pending, record.published);
    const bundle = bundleFor(pending.envelope, pending.countersignature, lookup, previous);
    const dir = await this.#keyDirectory(p, kd);
    const vrf = hexKey(dir.status?.vrfPublicKey);
    const signing = hexKey(dir.status?.signingPublicKey);
    if (vrf === undefined || signing === undefined) {
      throw new Halt(
        'WaitingForDirectory',
        `KeyDirectory ${kd} does not list its VRF and signing keys yet`,
        true,
      );
    }
    const result = verifyFleetBundle(
      bundle,
      {
        operatorKeys: [ed25519.getPublicKey(p.attestationSeed)],
        witnessKeys: witnessKeysOf(dir),
        manufacturerCaKeys: [ed25519.getPublicKey(p.manufacturerCaSeed)],
        directory: { vrfPublicKey: vrf, signingKey: signing },
      },
      {
        now: this.#d.now().getTime(),
        maxClockSkewMs: SELF_CHECK_SKEW_MS,
        ...(record.published ? { previous: record.published.bundle } : {}),
      },
    );
    if (!result.valid)
      throw new Halt(
        'BundleInvalid',
        `the assembled bundle does not verify: ${result.reasons.join('; ')}`,
        false,
      );
    return { bundle, statement: pending.statement, digest };
  }
}

/** A 64-hex public key from a KeyDirectory status field, or undefined. */
function hexKey(k: string | undefined): Uint8Array | undefined {
  return k !== undefined && /^[0-9a-f]{64}$/.test(k) ? new Uint8Array(Buffer.from(k, 'hex')) : undefined;
}

function witnessKeysOf(dir: KeyDirectory): Uint8Array[] {
  return (dir.status?.witnesses ?? []).flatMap((w) => {
    const k = hexKey(w.publicKey);
    return k === undefined ? [] : [k];
  });
}

/**
 * Writes the record as a compare-and-swap: server-side apply carrying the resourceVersion of
 * `current` (the read it is based on) as a precondition, so a write based on a stale read fails
 * with a conflict and the next pass starts over; with no `current`, it creates. One field manager
 * owns every data key, and every key is always sent (attestationRecordData), so each write
 * replaces the record whole.
 */
export async function applyAttestationRecord(
  client: KubeClient,
  fleet: VaultFleet,
  current: V1ConfigMap | undefined,
  data: Record<string, string>,
  signal?: AbortSignal,
): Promise<V1ConfigMap> {
  const rv = current?.metadata?.resourceVersion;
  const body: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      ...ownedMeta(fleet, attestationConfigMapName(fleetName(fleet)), fleetLabels(fleet, 'attestation')),
      ...(rv ? { resourceVersion: rv } : {}),
    },
    data,
  };
  return (await client.apply(builtin.configMap, asUnstructured(body), {
    ...(signal ? { signal } : {}),
    fieldManager: ATTESTATION_RECORD_MANAGER,
    keepResourceVersion: true,
  })) as V1ConfigMap;
}

/** The value the lookup proof says is logged (checked for real by verifyFleetBundle). */
function loggedValue(lookup: NonNullable<Awaited<ReturnType<typeof lookupLabel>>>): Uint8Array {
  const parsed = parseLookupResponse(lookup, MAX_LOOKUP_PROOF_BYTES);
  return decodeLookupProof(parsed.proof, { ...DEFAULT_LIMITS.lookup, maxBytes: MAX_LOOKUP_PROOF_BYTES })
    .value;
}
