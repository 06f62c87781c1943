/**
 * Decoders and encoders for akd's protobuf encoding of proofs
 * (akd_core/src/proto/specs/types.proto, proto2), on @bufbuild/protobuf.
 *
 * Decoding is bounded and strict. Before anything is allocated, a wire-format pass over
 * the input checks the total size, the number of nested messages and the size of every
 * bytes field, and rejects unknown fields and wrong wire types. The conversion then
 * requires every field akd requires, digests of exactly 32 bytes, labels of at most 32
 * bytes and 256 bits, exactly one sibling per path step (akd reads the first of any
 * number), direction 0 or 1 (akd masks it with 0x0f), exactly two children in a
 * non-membership proof, and the per-kind count limits below. Every failure is an AkdError
 * with code 'decode' or 'limit'.
 *
 * Encoding reproduces akd's bytes exactly: fields in number order, every present field
 * written (including empty bytes), label values with trailing zero bytes trimmed.
 */
import { create, type DescMessage, fromBinary, isFieldSet, ScalarType, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { AkdError } from './errors.ts';
import type { Direction, NodeLabel } from './label.ts';
import * as pb from './proto/akd_types_pb.generated.ts';
import type {
  AppendOnlyProof,
  AzksElement,
  HistoryProof,
  LookupProof,
  MembershipProof,
  NonMembershipProof,
  SiblingProof,
  SingleAppendOnlyProof,
  UpdateProof,
} from './types.ts';
import { MAX_PATH_LENGTH } from './verify.ts';

export interface DecodeLimits {
  /** largest encoded proof accepted */
  readonly maxBytes: number;
  /** largest single bytes field (values, VRF proofs, nonces) */
  readonly maxFieldBytes: number;
  /** most nested messages in one proof; bounds the memory a decode allocates */
  readonly maxMessages: number;
  /** most sibling proofs in one Merkle path (a 256-bit label gives at most 256) */
  readonly maxSiblings: number;
  /** most update proofs (versions) in a history proof */
  readonly maxVersions: number;
  /** most past or future marker proofs in a history proof */
  readonly maxMarkers: number;
  /** most epoch transitions in an append-only proof */
  readonly maxEpochs: number;
  /** most inserted plus unchanged elements in one transition */
  readonly maxElements: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Defaults per proof kind. A lookup proof from a 10^9-leaf tree is about 10 KiB. */
export const DEFAULT_LIMITS = {
  lookup: {
    maxBytes: 1 * MiB,
    maxFieldBytes: 256 * KiB,
    maxMessages: 8 * KiB,
    maxSiblings: MAX_PATH_LENGTH,
    maxVersions: 0,
    maxMarkers: 0,
    maxEpochs: 0,
    maxElements: 0,
  },
  history: {
    maxBytes: 64 * MiB,
    maxFieldBytes: 256 * KiB,
    maxMessages: 2 * MiB,
    maxSiblings: MAX_PATH_LENGTH,
    maxVersions: 10_000,
    maxMarkers: 256,
    maxEpochs: 0,
    maxElements: 0,
  },
  audit: {
    maxBytes: 512 * MiB,
    maxFieldBytes: 64,
    maxMessages: 16 * MiB,
    maxSiblings: 0,
    maxVersions: 0,
    maxMarkers: 0,
    maxEpochs: 100_000,
    maxElements: 4 * MiB,
  },
} as const satisfies Record<string, DecodeLimits>;

function decodeError(msg: string): AkdError {
  return new AkdError('decode', msg);
}

// ---------------------------------------------------------------- wire-format pre-pass

interface Budget {
  messages: number;
  readonly limits: DecodeLimits;
}

function isMessageField(f: DescMessage['fields'][number]): DescMessage | undefined {
  if (f.fieldKind === 'message') return f.message;
  if (f.fieldKind === 'list' && f.listKind === 'message') return f.message;
  return undefined;
}

function scan(desc: DescMessage, r: BinaryReader, end: number, budget: Budget, depth: number): void {
  if (depth > 8) throw decodeError(`${desc.name}: nested too deeply`);
  const spend = () => {
    if (--budget.messages < 0) {
      throw new AkdError('limit', `more than ${budget.limits.maxMessages} nested messages or list elements`);
    }
  };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    const f = desc.fields.find((x) => x.number === no);
    if (f === undefined) throw decodeError(`${desc.name}: unknown field ${no}`);
    const wrongType = () => decodeError(`${desc.name}.${f.name}: wrong wire type ${wt}`);
    const sub = isMessageField(f);
    const scalar = f.fieldKind === 'scalar' || f.fieldKind === 'list' ? f.scalar : undefined;
    if (f.fieldKind === 'list') spend();
    if (sub !== undefined || scalar === ScalarType.BYTES) {
      if (wt !== WireType.LengthDelimited) throw wrongType();
      const len = r.uint32();
      if (len > end - r.pos) throw decodeError(`${desc.name}.${f.name}: length ${len} runs past the end`);
      if (sub !== undefined) {
        spend();
        scan(sub, r, r.pos + len, budget, depth + 1);
      } else {
        if (len > budget.limits.maxFieldBytes) {
          throw new AkdError(
            'limit',
            `${desc.name}.${f.name}: ${len} bytes, more than ${budget.limits.maxFieldBytes}`,
          );
        }
        r.pos += len;
      }
    } else if (wt === WireType.Varint) {
      r.uint64();
    } else if (wt === WireType.LengthDelimited && f.fieldKind === 'list') {
      // packed repeated varints (akd writes them unpacked; parsers accept both)
      const len = r.uint32();
      if (len > end - r.pos) throw decodeError(`${desc.name}.${f.name}: length ${len} runs past the end`);
      const stop = r.pos + len;
      while (r.pos < stop) {
        r.uint64();
        spend();
      }
      if (r.pos !== stop) throw decodeError(`${desc.name}.${f.name}: packed field overruns`);
    } else {
      throw wrongType();
    }
  }
  if (r.pos !== end) throw decodeError(`${desc.name}: message overruns its length`);
}

function parse<D extends DescMessage>(schema: D, bytes: Uint8Array, limits: DecodeLimits, what: string) {
  if (!(bytes instanceof Uint8Array)) throw new AkdError('input', `${what}: expected a Uint8Array`);
  if (bytes.length > limits.maxBytes) {
    throw new AkdError('limit', `${what}: ${bytes.length} bytes, more than the limit of ${limits.maxBytes}`);
  }
  try {
    const r = new BinaryReader(bytes);
    scan(schema, r, bytes.length, { messages: limits.maxMessages, limits }, 0);
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (e) {
    if (e instanceof AkdError) throw new AkdError(e.code, `${what}: ${e.message}`, { cause: e });
    throw new AkdError('decode', `${what}: malformed protobuf: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  }
}

// ---------------------------------------------------------------- conversion

function need(ok: boolean, what: string): void {
  if (!ok) throw decodeError(`required field ${what} is missing`);
}

function digest(b: Uint8Array, what: string): Uint8Array {
  if (b.length !== 32) throw decodeError(`${what} must be 32 bytes, got ${b.length}`);
  return b;
}

function fromLabel(m: pb.NodeLabel | undefined, what: string): NodeLabel {
  need(m !== undefined, what);
  const l = m as pb.NodeLabel;
  need(isFieldSet(l, pb.NodeLabelSchema.field.labelVal), `${what}.label_val`);
  need(isFieldSet(l, pb.NodeLabelSchema.field.labelLen), `${what}.label_len`);
  if (l.labelVal.length > 32)
    throw decodeError(`${what}.label_val is ${l.labelVal.length} bytes, more than 32`);
  if (l.labelLen > 256) throw decodeError(`${what}.label_len is ${l.labelLen}, more than 256`);
  const val = new Uint8Array(32);
  val.set(l.labelVal);
  return { labelVal: val, labelLen: l.labelLen };
}

function fromElement(m: pb.AzksElement, what: string): AzksElement {
  need(isFieldSet(m, pb.AzksElementSchema.field.value), `${what}.value`);
  return { label: fromLabel(m.label, `${what}.label`), value: digest(m.value, `${what}.value`) };
}

function fromSibling(m: pb.SiblingProof, what: string): SiblingProof {
  need(isFieldSet(m, pb.SiblingProofSchema.field.direction), `${what}.direction`);
  if (m.siblings.length !== 1)
    throw decodeError(`${what} must have exactly 1 sibling, has ${m.siblings.length}`);
  if (m.direction !== 0 && m.direction !== 1)
    throw decodeError(`${what}.direction is ${m.direction}, not 0 or 1`);
  return {
    label: fromLabel(m.label, `${what}.label`),
    sibling: fromElement(m.siblings[0] as pb.AzksElement, `${what}.siblings[0]`),
    direction: m.direction as Direction,
  };
}

function fromMembership(
  m: pb.MembershipProof | undefined,
  what: string,
  limits: DecodeLimits,
): MembershipProof {
  need(m !== undefined, what);
  const p = m as pb.MembershipProof;
  need(isFieldSet(p, pb.MembershipProofSchema.field.hashVal), `${what}.hash_val`);
  if (p.siblingProofs.length > limits.maxSiblings) {
    throw new AkdError(
      'limit',
      `${what}: ${p.siblingProofs.length} sibling proofs, more than ${limits.maxSiblings}`,
    );
  }
  return {
    label: fromLabel(p.label, `${what}.label`),
    hashVal: digest(p.hashVal, `${what}.hash_val`),
    siblingProofs: p.siblingProofs.map((s, i) => fromSibling(s, `${what}.sibling_proofs[${i}]`)),
  };
}

function fromNonMembership(
  m: pb.NonMembershipProof | undefined,
  what: string,
  limits: DecodeLimits,
): NonMembershipProof {
  need(m !== undefined, what);
  const p = m as pb.NonMembershipProof;
  if (p.longestPrefixChildren.length !== 2) {
    throw decodeError(
      `${what}.longest_prefix_children must have 2 elements, has ${p.longestPrefixChildren.length}`,
    );
  }
  return {
    label: fromLabel(p.label, `${what}.label`),
    longestPrefix: fromLabel(p.longestPrefix, `${what}.longest_prefix`),
    longestPrefixChildren: [
      fromElement(p.longestPrefixChildren[0] as pb.AzksElement, `${what}.longest_prefix_children[0]`),
      fromElement(p.longestPrefixChildren[1] as pb.AzksElement, `${what}.longest_prefix_children[1]`),
    ],
    longestPrefixMembershipProof: fromMembership(
      p.longestPrefixMembershipProof,
      `${what}.longest_prefix_membership_proof`,
      limits,
    ),
  };
}

function fromLookup(m: pb.LookupProof, limits: DecodeLimits): LookupProof {
  const f = pb.LookupProofSchema.field;
  for (const [k, name] of [
    [f.epoch, 'epoch'],
    [f.value, 'value'],
    [f.version, 'version'],
    [f.existenceVrfProof, 'existence_vrf_proof'],
    [f.markerVrfProof, 'marker_vrf_proof'],
    [f.freshnessVrfProof, 'freshness_vrf_proof'],
    [f.commitmentNonce, 'commitment_nonce'],
  ] as const) {
    need(isFieldSet(m, k), `LookupProof.${name}`);
  }
  return {
    epoch: m.epoch,
    value: m.value,
    version: m.version,
    existenceVrfProof: m.existenceVrfProof,
    existenceProof: fromMembership(m.existenceProof, 'LookupProof.existence_proof', limits),
    markerVrfProof: m.markerVrfProof,
    markerProof: fromMembership(m.markerProof, 'LookupProof.marker_proof', limits),
    freshnessVrfProof: m.freshnessVrfProof,
    freshnessProof: fromNonMembership(m.freshnessProof, 'LookupProof.freshness_proof', limits),
    commitmentNonce: m.commitmentNonce,
  };
}

function fromUpdate(m: pb.UpdateProof, what: string, limits: DecodeLimits): UpdateProof {
  const f = pb.UpdateProofSchema.field;
  for (const [k, name] of [
    [f.epoch, 'epoch'],
    [f.value, 'value'],
    [f.version, 'version'],
    [f.existenceVrfProof, 'existence_vrf_proof'],
    [f.commitmentNonce, 'commitment_nonce'],
  ] as const) {
    need(isFieldSet(m, k), `${what}.${name}`);
  }
  const hasPrevVrf = isFieldSet(m, f.previousVersionVrfProof);
  return {
    epoch: m.epoch,
    value: m.value,
    version: m.version,
    existenceVrfProof: m.existenceVrfProof,
    existenceProof: fromMembership(m.existenceProof, `${what}.existence_proof`, limits),
    previousVersionVrfProof: hasPrevVrf ? m.previousVersionVrfProof : undefined,
    previousVersionProof:
      m.previousVersionProof === undefined
        ? undefined
        : fromMembership(m.previousVersionProof, `${what}.previous_version_proof`, limits),
    commitmentNonce: m.commitmentNonce,
  };
}

function fromHistory(m: pb.HistoryProof, limits: DecodeLimits): HistoryProof {
  if (m.updateProofs.length > limits.maxVersions) {
    throw new AkdError(
      'limit',
      `HistoryProof: ${m.updateProofs.length} update proofs, more than ${limits.maxVersions}`,
    );
  }
  for (const [n, name] of [
    [m.pastMarkerVrfProofs.length, 'past_marker_vrf_proofs'],
    [m.existenceOfPastMarkerProofs.length, 'existence_of_past_marker_proofs'],
    [m.futureMarkerVrfProofs.length, 'future_marker_vrf_proofs'],
    [m.nonExistenceOfFutureMarkerProofs.length, 'non_existence_of_future_marker_proofs'],
  ] as const) {
    if (n > limits.maxMarkers)
      throw new AkdError('limit', `HistoryProof.${name}: ${n} entries, more than ${limits.maxMarkers}`);
  }
  return {
    updateProofs: m.updateProofs.map((u, i) => fromUpdate(u, `HistoryProof.update_proofs[${i}]`, limits)),
    pastMarkerVrfProofs: [...m.pastMarkerVrfProofs],
    existenceOfPastMarkerProofs: m.existenceOfPastMarkerProofs.map((p, i) =>
      fromMembership(p, `HistoryProof.existence_of_past_marker_proofs[${i}]`, limits),
    ),
    futureMarkerVrfProofs: [...m.futureMarkerVrfProofs],
    nonExistenceOfFutureMarkerProofs: m.nonExistenceOfFutureMarkerProofs.map((p, i) =>
      fromNonMembership(p, `HistoryProof.non_existence_of_future_marker_proofs[${i}]`, limits),
    ),
  };
}

function fromSingleAppendOnly(
  m: pb.SingleAppendOnlyProof,
  what: string,
  limits: DecodeLimits,
): SingleAppendOnlyProof {
  const n = m.inserted.length + m.unchangedNodes.length;
  if (n > limits.maxElements)
    throw new AkdError('limit', `${what}: ${n} elements, more than ${limits.maxElements}`);
  return {
    inserted: m.inserted.map((e, i) => fromElement(e, `${what}.inserted[${i}]`)),
    unchangedNodes: m.unchangedNodes.map((e, i) => fromElement(e, `${what}.unchanged_nodes[${i}]`)),
  };
}

function fromAppendOnly(m: pb.AppendOnlyProof, limits: DecodeLimits): AppendOnlyProof {
  if (m.proofs.length > limits.maxEpochs || m.epochs.length > limits.maxEpochs) {
    throw new AkdError('limit', `AppendOnlyProof: more than ${limits.maxEpochs} epochs`);
  }
  return {
    proofs: m.proofs.map((p, i) => fromSingleAppendOnly(p, `AppendOnlyProof.proofs[${i}]`, limits)),
    epochs: [...m.epochs],
  };
}

function convert<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AkdError) throw new AkdError(e.code, `${what}: ${e.message}`, { cause: e });
    throw new AkdError('decode', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

// ---------------------------------------------------------------- public decoders

export function decodeLookupProof(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS.lookup,
): LookupProof {
  const m = parse(pb.LookupProofSchema, bytes, limits, 'lookup proof');
  return convert(() => fromLookup(m, limits), 'lookup proof');
}

export function decodeHistoryProof(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS.history,
): HistoryProof {
  const m = parse(pb.HistoryProofSchema, bytes, limits, 'history proof');
  return convert(() => fromHistory(m, limits), 'history proof');
}

export function decodeAppendOnlyProof(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS.audit,
): AppendOnlyProof {
  const m = parse(pb.AppendOnlyProofSchema, bytes, limits, 'append-only proof');
  return convert(() => fromAppendOnly(m, limits), 'append-only proof');
}

/** Decodes an audit blob's content (one transition). */
export function decodeSingleAppendOnlyProof(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS.audit,
): SingleAppendOnlyProof {
  const m = parse(pb.SingleAppendOnlyProofSchema, bytes, limits, 'audit blob');
  return convert(() => fromSingleAppendOnly(m, 'SingleAppendOnlyProof', limits), 'audit blob');
}

// ---------------------------------------------------------------- encoders

function toLabel(l: NodeLabel): pb.NodeLabel {
  let end = 32;
  while (end > 0 && l.labelVal[end - 1] === 0) end--;
  return create(pb.NodeLabelSchema, { labelVal: l.labelVal.slice(0, end), labelLen: l.labelLen });
}

function toElement(e: AzksElement): pb.AzksElement {
  return create(pb.AzksElementSchema, { label: toLabel(e.label), value: e.value });
}

function toMembership(p: MembershipProof): pb.MembershipProof {
  return create(pb.MembershipProofSchema, {
    label: toLabel(p.label),
    hashVal: p.hashVal,
    siblingProofs: p.siblingProofs.map((s) =>
      create(pb.SiblingProofSchema, {
        label: toLabel(s.label),
        siblings: [toElement(s.sibling)],
        direction: s.direction,
      }),
    ),
  });
}

function toNonMembership(p: NonMembershipProof): pb.NonMembershipProof {
  return create(pb.NonMembershipProofSchema, {
    label: toLabel(p.label),
    longestPrefix: toLabel(p.longestPrefix),
    longestPrefixChildren: p.longestPrefixChildren.map(toElement),
    longestPrefixMembershipProof: toMembership(p.longestPrefixMembershipProof),
  });
}

function toUpdate(u: UpdateProof): pb.UpdateProof {
  const m = create(pb.UpdateProofSchema, {
    epoch: u.epoch,
    value: u.value,
    version: u.version,
    existenceVrfProof: u.existenceVrfProof,
    existenceProof: toMembership(u.existenceProof),
    commitmentNonce: u.commitmentNonce,
  });
  if (u.previousVersionVrfProof !== undefined) m.previousVersionVrfProof = u.previousVersionVrfProof;
  if (u.previousVersionProof !== undefined) m.previousVersionProof = toMembership(u.previousVersionProof);
  return m;
}

export function encodeLookupProof(p: LookupProof): Uint8Array {
  return toBinary(
    pb.LookupProofSchema,
    create(pb.LookupProofSchema, {
      epoch: p.epoch,
      value: p.value,
      version: p.version,
      existenceVrfProof: p.existenceVrfProof,
      existenceProof: toMembership(p.existenceProof),
      markerVrfProof: p.markerVrfProof,
      markerProof: toMembership(p.markerProof),
      freshnessVrfProof: p.freshnessVrfProof,
      freshnessProof: toNonMembership(p.freshnessProof),
      commitmentNonce: p.commitmentNonce,
    }),
  );
}

export function encodeHistoryProof(p: HistoryProof): Uint8Array {
  return toBinary(
    pb.HistoryProofSchema,
    create(pb.HistoryProofSchema, {
      updateProofs: p.updateProofs.map(toUpdate),
      pastMarkerVrfProofs: [...p.pastMarkerVrfProofs],
      existenceOfPastMarkerProofs: p.existenceOfPastMarkerProofs.map(toMembership),
      futureMarkerVrfProofs: [...p.futureMarkerVrfProofs],
      nonExistenceOfFutureMarkerProofs: p.nonExistenceOfFutureMarkerProofs.map(toNonMembership),
    }),
  );
}

function toSingle(p: SingleAppendOnlyProof): pb.SingleAppendOnlyProof {
  return create(pb.SingleAppendOnlyProofSchema, {
    inserted: p.inserted.map(toElement),
    unchangedNodes: p.unchangedNodes.map(toElement),
  });
}

export function encodeSingleAppendOnlyProof(p: SingleAppendOnlyProof): Uint8Array {
  return toBinary(pb.SingleAppendOnlyProofSchema, toSingle(p));
}

export function encodeAppendOnlyProof(p: AppendOnlyProof): Uint8Array {
  return toBinary(
    pb.AppendOnlyProofSchema,
    create(pb.AppendOnlyProofSchema, { proofs: p.proofs.map(toSingle), epochs: [...p.epochs] }),
  );
}
