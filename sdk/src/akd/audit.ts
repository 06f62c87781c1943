/**
 * Append-only (audit) proofs between roots (akd's auditor): for each epoch transition
 * t -> t+1, the tree rebuilt from the unchanged subtrees must hash to root(t), and the tree
 * rebuilt from the unchanged subtrees plus the inserted leaves (their commitments hashed
 * with epoch t+1) must hash to root(t+1).
 *
 * The rebuild is the canonical compressed trie over the given elements, as akd's batch
 * insert builds it in auditor mode (element values taken as they are). Like akd 0.13 it
 * rejects element sets where one element's label is a prefix of another's (a value could
 * be rewritten under a prefix) and duplicate labels. Stricter than akd: inserted elements
 * must be 256-bit leaves, the transitions must be consecutive epochs, and with
 * `startEpoch` the first must start there.
 */
import { bytesToHex, equalBytes, U64_MAX } from './bytes.ts';
import { AkdError } from './errors.ts';
import { EMPTY_LABEL, formatLabel, getBit, getPrefix, longestCommonPrefix, type NodeLabel } from './label.ts';
import type { AppendOnlyProof, AzksElement, SingleAppendOnlyProof } from './types.ts';
import {
  DIGEST_BYTES,
  EMPTY_LABEL_VALUE,
  EMPTY_NODE_HASH,
  EMPTY_ROOT_VALUE,
  hashLeafWithCommitment,
  labelValue,
  parentHash,
  rootHashFromValue,
} from './whatsapp-v1.ts';

interface Built {
  label: NodeLabel;
  value: Uint8Array;
  labelValue: Uint8Array;
}

/** The label's bits as a sort key: the value with bits past labelLen cleared. */
function cleanValue(label: NodeLabel): Uint8Array {
  return label.labelLen >= 256 ? label.labelVal : getPrefix(label, label.labelLen).labelVal;
}

interface Sorted {
  readonly e: AzksElement;
  readonly key: Uint8Array;
}

/** Bit-string order: by cleaned value, a prefix before its extensions. */
function compareSorted(a: Sorted, b: Sorted): number {
  for (let i = 0; i < 32; i++) {
    const d = (a.key[i] as number) - (b.key[i] as number);
    if (d !== 0) return d;
  }
  return a.e.label.labelLen - b.e.label.labelLen;
}

/**
 * The subtree over sorted[lo, hi) (non-empty, all sharing the caller's prefix). In bit-string
 * order the common prefix of a range is that of its first and last element, a node equal to
 * that prefix sorts first, and the two sides of the split are contiguous.
 */
function subtree(sorted: readonly Sorted[], lo: number, hi: number): Built {
  const first = (sorted[lo] as Sorted).e;
  if (hi - lo === 1) return { label: first.label, value: first.value, labelValue: labelValue(first.label) };
  const lcp = longestCommonPrefix(first.label, (sorted[hi - 1] as Sorted).e.label);
  if (first.label.labelLen <= lcp.labelLen) {
    throw new AkdError(
      'audit',
      `node ${formatLabel(first.label)} would be dropped: it is a prefix of, or equal to, another node's label`,
    );
  }
  const mid = split(sorted, lo, hi, lcp.labelLen);
  const l = subtree(sorted, lo, mid);
  const r = subtree(sorted, mid, hi);
  return {
    label: lcp,
    value: parentHash(l.value, l.labelValue, r.value, r.labelValue),
    labelValue: labelValue(lcp),
  };
}

/** First index in [lo, hi) whose bit at `bit` is 1 (bits are monotonic in the sorted range). */
function split(sorted: readonly Sorted[], lo: number, hi: number, bit: number): number {
  let a = lo;
  let b = hi;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (getBit((sorted[m] as Sorted).e.label, bit) === 0) a = m + 1;
    else b = m;
  }
  return a;
}

/**
 * Root hash of the compressed trie holding exactly `elements` (label, node value). Leaf
 * values must already include their epoch (see leafElement); the empty set gives the
 * empty-tree root. O(n log n).
 */
export function computeRootHash(elements: readonly AzksElement[]): Uint8Array {
  if (elements.length === 0) return rootHashFromValue(EMPTY_ROOT_VALUE);
  const sorted: Sorted[] = [];
  for (const e of elements) {
    if (!(e.value instanceof Uint8Array) || e.value.length !== DIGEST_BYTES) {
      throw new AkdError('audit', `node ${formatLabel(e.label)} has a value of the wrong size`);
    }
    if (e.label.labelLen === 0) {
      throw new AkdError('audit', `node ${formatLabel(e.label)} has an empty label`);
    }
    sorted.push({ e, key: cleanValue(e.label) });
  }
  sorted.sort(compareSorted);
  const mid = split(sorted, 0, sorted.length, 0);
  const side = (lo: number, hi: number): Built =>
    lo === hi
      ? { label: EMPTY_LABEL, value: EMPTY_NODE_HASH, labelValue: EMPTY_LABEL_VALUE }
      : subtree(sorted, lo, hi);
  const l = side(0, mid);
  const r = side(mid, sorted.length);
  return rootHashFromValue(parentHash(l.value, l.labelValue, r.value, r.labelValue));
}

/** A leaf as a tree element: its commitment hashed with the epoch it was inserted in. */
export function leafElement(label: NodeLabel, commitment: Uint8Array, epoch: bigint): AzksElement {
  return { label, value: hashLeafWithCommitment(commitment, epoch) };
}

/** Verifies one transition: `proof` takes the root `startHash` to `endHash` at `endEpoch`. */
export function verifyConsecutiveAppendOnly(
  proof: SingleAppendOnlyProof,
  startHash: Uint8Array,
  endHash: Uint8Array,
  endEpoch: bigint,
): void {
  const what = `audit proof for epoch ${endEpoch - 1n} -> ${endEpoch}`;
  if (endEpoch < 1n || endEpoch > U64_MAX) throw new AkdError('input', `${what}: end epoch out of range`);
  for (const e of proof.inserted) {
    if (e.label.labelLen !== 256) {
      throw new AkdError('audit', `${what}: inserted node ${formatLabel(e.label)} is not a 256-bit leaf`);
    }
  }
  let start: Uint8Array;
  try {
    start = computeRootHash(proof.unchangedNodes);
  } catch (e) {
    throw e instanceof AkdError
      ? new AkdError('audit', `${what}: unchanged nodes: ${e.message}`, { cause: e })
      : e;
  }
  if (!equalBytes(start, startHash)) {
    throw new AkdError(
      'audit',
      `${what}: unchanged nodes hash to ${bytesToHex(start)}, not to the epoch ${endEpoch - 1n} root ${bytesToHex(startHash)}`,
    );
  }
  const all: AzksElement[] = [...proof.unchangedNodes];
  for (const e of proof.inserted) all.push(leafElement(e.label, e.value, endEpoch));
  let end: Uint8Array;
  try {
    end = computeRootHash(all);
  } catch (e) {
    throw e instanceof AkdError
      ? new AkdError('audit', `${what}: unchanged plus inserted nodes: ${e.message}`, { cause: e })
      : e;
  }
  if (!equalBytes(end, endHash)) {
    throw new AkdError(
      'audit',
      `${what}: unchanged plus inserted nodes hash to ${bytesToHex(end)}, not to the epoch ${endEpoch} root ${bytesToHex(endHash)}`,
    );
  }
}

/**
 * Verifies an append-only proof over `hashes` (the roots of epochs e0, e0+1, ..., one more
 * than the transitions in `proof`). With `startEpoch`, the first transition must start there.
 */
export function auditVerify(
  hashes: readonly Uint8Array[],
  proof: AppendOnlyProof,
  options: { startEpoch?: bigint } = {},
): void {
  if (proof.epochs.length + 1 !== hashes.length) {
    throw new AkdError(
      'audit',
      `audit proof: ${proof.epochs.length} transitions need ${proof.epochs.length + 1} root hashes, got ${hashes.length}`,
    );
  }
  if (proof.epochs.length !== proof.proofs.length) {
    throw new AkdError(
      'audit',
      `audit proof: ${proof.epochs.length} epochs but ${proof.proofs.length} transition proofs`,
    );
  }
  if (options.startEpoch !== undefined && proof.epochs.length > 0 && proof.epochs[0] !== options.startEpoch) {
    throw new AkdError(
      'audit',
      `audit proof: starts at epoch ${proof.epochs[0]}, expected ${options.startEpoch}`,
    );
  }
  for (let i = 0; i < proof.epochs.length; i++) {
    const e = proof.epochs[i] as bigint;
    if (e < 0n || e >= U64_MAX) throw new AkdError('audit', `audit proof: epoch ${e} out of range`);
    if (i > 0 && e !== (proof.epochs[i - 1] as bigint) + 1n) {
      throw new AkdError('audit', `audit proof: epoch ${e} does not follow epoch ${proof.epochs[i - 1]}`);
    }
    const h0 = hashes[i] as Uint8Array;
    const h1 = hashes[i + 1] as Uint8Array;
    if (h0.length !== DIGEST_BYTES || h1.length !== DIGEST_BYTES) {
      throw new AkdError('input', `audit proof: root hashes must be ${DIGEST_BYTES} bytes`);
    }
    verifyConsecutiveAppendOnly(proof.proofs[i] as SingleAppendOnlyProof, h0, h1, e + 1n);
  }
}

/** An audit blob name, `EPOCH/hex(previous root)/hex(current root)`. */
export interface AuditBlobName {
  readonly epoch: bigint;
  readonly previousHash: Uint8Array;
  readonly currentHash: Uint8Array;
}

export function formatAuditBlobName(name: AuditBlobName): string {
  return `${name.epoch}/${bytesToHex(name.previousHash)}/${bytesToHex(name.currentHash)}`;
}

/**
 * Parses `EPOCH/hex(prev)/hex(cur)`. Which epoch EPOCH is differs between akd's tools:
 * the WhatsApp auditor reads it as the epoch whose root is `cur` (the transition is
 * EPOCH-1 -> EPOCH), akd's generate_audit_blobs writes the transition's start epoch.
 * Callers choose with verifyConsecutiveAppendOnly's endEpoch.
 */
export function parseAuditBlobName(name: string): AuditBlobName {
  const m = /^(0|[1-9][0-9]{0,19})\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(name);
  if (!m)
    throw new AkdError(
      'decode',
      `audit blob name is not EPOCH/hex32/hex32: ${JSON.stringify(name.slice(0, 200))}`,
    );
  const epoch = BigInt(m[1] as string);
  if (epoch > U64_MAX) throw new AkdError('decode', 'audit blob name: epoch is not a u64');
  const hex = (s: string) => Uint8Array.from(s.match(/../g) as string[], (b) => Number.parseInt(b, 16));
  return { epoch, previousHash: hex(m[2] as string), currentHash: hex(m[3] as string) };
}
