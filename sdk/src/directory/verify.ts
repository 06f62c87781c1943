/**
 * What a directory client checks, without I/O: signed epoch heads (signature, namespace,
 * consistency with each other), lookup and key-history proofs against a signed head's root,
 * and the append-only proof of each epoch transition between two signed heads. Each function
 * returns what it verified or throws a DirectoryVerificationError saying which check failed.
 */
import { verifyConsecutiveAppendOnly } from '../akd/audit.ts';
import { bytesToHex, equalBytes } from '../akd/bytes.ts';
import {
  DEFAULT_LIMITS,
  decodeHistoryProof,
  decodeLookupProof,
  decodeSingleAppendOnlyProof,
} from '../akd/codec.ts';
import { AkdError } from '../akd/errors.ts';
import type { HistoryParams } from '../akd/types.ts';
import { keyHistoryVerify, lookupVerify } from '../akd/verify.ts';
import { commitmentFromNonce, EMPTY_TREE_ROOT_HASH } from '../akd/whatsapp-v1.ts';
import { type EpochHead, verifyEpochHeadSignature } from './epoch-head.ts';
import { type DirectoryCheck, DirectoryVerificationError } from './errors.ts';
import type { DirectoryTrust, HeadTrust } from './trust.ts';
import type {
  ParsedAuditResponse,
  ParsedHistoryResponse,
  ParsedLookupResponse,
  SignedEpochHead,
} from './wire.ts';

/** A head whose signature verified, with its signed bytes (to compare heads exactly). */
export interface VerifiedHead extends EpochHead {
  readonly bytes: Uint8Array;
}

export interface VerifiedValue {
  readonly version: number;
  /** the epoch this version was published in */
  readonly epoch: number;
  readonly value: Uint8Array;
  /** the value's commitment, BLAKE3(value || nonce) as akd frames it: what the tree holds */
  readonly commitment: Uint8Array;
}

export interface VerifiedLookup extends VerifiedValue {
  readonly head: VerifiedHead;
  readonly username: string;
}

export interface VerifiedHistory {
  readonly head: VerifiedHead;
  readonly username: string;
  readonly params: HistoryParams;
  /** newest version first */
  readonly versions: readonly VerifiedValue[];
}

export interface VerifiedTransition {
  readonly epoch: number;
  readonly previousRootHash: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly inserted: number;
  readonly unchanged: number;
}

function fail(check: DirectoryCheck, message: string, cause?: unknown): never {
  throw new DirectoryVerificationError(check, message, cause === undefined ? undefined : { cause });
}

/** Verifies the signature of a served head, that its JSON copy says what it signs, and its namespace. */
export function verifySignedHead(
  signed: SignedEpochHead,
  trust: HeadTrust,
  what = 'epoch head',
): VerifiedHead {
  let head: EpochHead;
  try {
    head = verifyEpochHeadSignature(signed.head, signed.signature, trust.signingPublicKey);
  } catch (e) {
    fail('epoch-head', `${what}: ${(e as Error).message}`, e);
  }
  const c = signed.claimed;
  const mismatch = (
    [
      ['namespace', c.namespace, head.namespace],
      ['epoch', c.epoch, head.epoch],
      ['rootHash', c.rootHash, bytesToHex(head.rootHash)],
      ['previousRootHash', c.previousRootHash, bytesToHex(head.previousRootHash)],
      ['timestamp', c.timestamp, head.timestamp],
    ] as const
  ).find(([, claimed, signedValue]) => claimed !== signedValue);
  if (mismatch !== undefined) {
    const [field, claimed, signedValue] = mismatch;
    fail(
      'epoch-head',
      `${what}: the served ${field} ${JSON.stringify(claimed)} differs from the signed ${field} ${JSON.stringify(signedValue)}`,
    );
  }
  if (trust.namespace !== undefined && head.namespace !== trust.namespace) {
    fail(
      'epoch-head',
      `${what} is for namespace ${JSON.stringify(head.namespace)}, not ${JSON.stringify(trust.namespace)}`,
    );
  }
  return { ...head, bytes: signed.head };
}

/**
 * A proof's head must not be older than the latest head the directory signed before it
 * (a stale or rolled-back answer), nor a different head for the same epoch (equivocation),
 * nor for another namespace; and not older than `minEpoch`, the epoch the caller last saw.
 */
export function checkProofHead(latest: VerifiedHead, proofHead: VerifiedHead, minEpoch = 0): void {
  if (proofHead.namespace !== latest.namespace) {
    fail(
      'epoch-head',
      `the proof is for namespace ${JSON.stringify(proofHead.namespace)}, the latest head for ${JSON.stringify(latest.namespace)}`,
    );
  }
  if (proofHead.epoch < latest.epoch) {
    fail(
      'epoch-head',
      `the proof is at epoch ${proofHead.epoch}, older than the latest signed epoch ${latest.epoch} (a stale or rolled-back answer)`,
    );
  }
  if (proofHead.epoch === latest.epoch && !equalBytes(proofHead.bytes, latest.bytes)) {
    fail(
      'epoch-head',
      `the directory signed two different heads for epoch ${latest.epoch} (roots ${bytesToHex(latest.rootHash)} and ${bytesToHex(proofHead.rootHash)}): it equivocates`,
    );
  }
  if (proofHead.epoch < minEpoch) {
    fail('epoch-head', `the proof is at epoch ${proofHead.epoch}, older than the required epoch ${minEpoch}`);
  }
}

function proofFailure(check: 'lookup' | 'history', e: unknown): never {
  if (e instanceof AkdError) fail(check, `${e.message} [${e.code}]`, e);
  throw e;
}

/** Verifies a lookup response for `username` (after checkProofHead on its head). */
export function verifyLookupResponse(
  trust: DirectoryTrust,
  head: VerifiedHead,
  response: ParsedLookupResponse,
  username: string,
): VerifiedLookup {
  let result: VerifiedValue;
  try {
    const proof = decodeLookupProof(response.proof, DEFAULT_LIMITS.lookup);
    const r = lookupVerify(
      trust.vrfPublicKey,
      head.rootHash,
      BigInt(head.epoch),
      new TextEncoder().encode(username),
      proof,
    );
    result = {
      version: Number(r.version),
      epoch: Number(r.epoch),
      value: r.value,
      commitment: commitmentFromNonce(r.value, proof.commitmentNonce),
    };
  } catch (e) {
    proofFailure('lookup', e);
  }
  if (result.version !== response.version) {
    fail(
      'lookup',
      `the response says version ${response.version}, the proof proves version ${result.version}`,
    );
  }
  return { ...result, head, username };
}

/** The sdk's history parameters for what was asked: complete, or the `mostRecent` newest versions. */
export function historyParams(mostRecent: number | undefined): HistoryParams {
  return mostRecent === undefined ? { kind: 'complete' } : { kind: 'most-recent', n: mostRecent };
}

/** Verifies a key-history response for `username` with the parameters the client asked for. */
export function verifyHistoryResponse(
  trust: DirectoryTrust,
  head: VerifiedHead,
  response: ParsedHistoryResponse,
  username: string,
  params: HistoryParams,
): VerifiedHistory {
  const served = response.params;
  if (
    served.kind !== params.kind ||
    (served.kind === 'most-recent' && params.kind === 'most-recent' && served.n !== params.n)
  ) {
    fail(
      'history',
      `asked for ${JSON.stringify(params)} history, the directory answered for ${JSON.stringify(served)}`,
    );
  }
  try {
    const proof = decodeHistoryProof(response.proof, DEFAULT_LIMITS.history);
    const results = keyHistoryVerify(
      trust.vrfPublicKey,
      head.rootHash,
      BigInt(head.epoch),
      new TextEncoder().encode(username),
      proof,
      {
        historyParams: params,
      },
    );
    const versions = results.map((r, i) => ({
      version: Number(r.version),
      epoch: Number(r.epoch),
      value: r.value,
      commitment: commitmentFromNonce(
        r.value,
        (proof.updateProofs[i] as (typeof proof.updateProofs)[0]).commitmentNonce,
      ),
    }));
    return { head, username, params, versions };
  } catch (e) {
    proofFailure('history', e);
  }
}

/** The root before epoch 1: akd's empty tree. */
export const GENESIS_ROOT_HASH: Uint8Array = EMPTY_TREE_ROOT_HASH;

/**
 * Verifies the transition into `head.epoch`: `head` extends `previousRootHash` (the verified
 * root of epoch head.epoch - 1), the directory stores exactly one audit blob for the epoch,
 * named for those two roots, and its append-only proof takes the one root to the other.
 */
export function verifyAuditTransition(
  previousRootHash: Uint8Array,
  head: VerifiedHead,
  response: ParsedAuditResponse,
): VerifiedTransition {
  const e = head.epoch;
  const hex = bytesToHex;
  if (!equalBytes(head.previousRootHash, previousRootHash)) {
    fail(
      'audit',
      `fork: the head of epoch ${e} extends root ${hex(head.previousRootHash)}, but epoch ${e - 1}'s verified root is ${hex(previousRootHash)}`,
    );
  }
  if (response.epoch !== e)
    fail('audit', `asked for the audit blob of epoch ${e}, got epoch ${response.epoch}`);
  if (response.blobs.length === 0) fail('audit', `the directory serves no audit blob for epoch ${e}`);
  if (response.blobs.length > 1)
    fail('audit', `fork: the directory stores ${response.blobs.length} different audit blobs for epoch ${e}`);
  const blob = response.blobs[0] as ParsedAuditResponse['blobs'][0];
  const name = `${e}/${hex(previousRootHash)}/${hex(head.rootHash)}`;
  if (
    blob.name !== name ||
    !equalBytes(blob.previousRootHash, previousRootHash) ||
    !equalBytes(blob.rootHash, head.rootHash)
  ) {
    fail(
      'audit',
      `the audit blob of epoch ${e} is ${JSON.stringify(blob.name.slice(0, 200))}, expected ${name}`,
    );
  }
  try {
    const proof = decodeSingleAppendOnlyProof(blob.proof, DEFAULT_LIMITS.audit);
    verifyConsecutiveAppendOnly(proof, previousRootHash, head.rootHash, BigInt(e));
    return {
      epoch: e,
      previousRootHash,
      rootHash: head.rootHash,
      inserted: proof.inserted.length,
      unchanged: proof.unchangedNodes.length,
    };
  } catch (e2) {
    if (e2 instanceof AkdError)
      fail('audit', `append-only proof for epoch ${e - 1} -> ${e}: ${e2.message} [${e2.code}]`, e2);
    throw e2;
  }
}
