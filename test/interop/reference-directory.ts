/**
 * A reference key directory built only from the sdk's exported pieces (labels through the
 * VRF, commitments, tree hashing, proof types): in memory, rebuilt from scratch at every
 * epoch, for tests. It exists to show that a server using the sdk produces lookup, history
 * and audit proofs that akd verifies (see ts-checks.ts); it is not the directory-node's tree.
 */

import { blake3 } from '@noble/hashes/blake3.js';
import {
  type AzksElement,
  auditVerify,
  bytesToHex,
  type Direction,
  EMPTY_LABEL,
  encodeAppendOnlyProof,
  encodeHistoryProof,
  encodeLookupProof,
  encodeSingleAppendOnlyProof,
  getBit,
  getMarkerVersions,
  type HistoryParams,
  type HistoryProof,
  isPrefixOf,
  keyHistoryVerify,
  type LookupProof,
  labelEquals,
  leafElement,
  longestCommonPrefix,
  lookupMarkerVersion,
  lookupVerify,
  type MembershipProof,
  type NodeLabel,
  type NonMembershipProof,
  proveNodeLabel,
  type SiblingProof,
  type SingleAppendOnlyProof,
  type UpdateProof,
  verifyConsecutiveAppendOnly,
  whatsappV1 as w,
} from '../../sdk/src/akd/index.ts';
import { type VrfSecretKey, vrfSecretKey } from '../../sdk/src/vrf/ecvrf.ts';

interface Leaf {
  label: NodeLabel;
  commitment: Uint8Array;
  epoch: bigint;
}

interface Node {
  label: NodeLabel;
  value: Uint8Array;
  /** newest leaf epoch below (or of) this node */
  maxEpoch: bigint;
  leaf?: Leaf;
  children?: [Node, Node];
}

const PLACEHOLDER: AzksElement = { label: EMPTY_LABEL, value: w.EMPTY_NODE_HASH };
const element = (n: Node | undefined): AzksElement => (n ? { label: n.label, value: n.value } : PLACEHOLDER);

function parentOf(l: AzksElement, r: AzksElement): Uint8Array {
  return w.parentHash(l.value, w.labelValue(l.label), r.value, w.labelValue(r.label));
}

function build(leaves: Leaf[]): Node {
  if (leaves.length === 1) {
    const leaf = leaves[0] as Leaf;
    return {
      label: leaf.label,
      value: leafElement(leaf.label, leaf.commitment, leaf.epoch).value,
      maxEpoch: leaf.epoch,
      leaf,
    };
  }
  let lcp = (leaves[0] as Leaf).label;
  for (const l of leaves) lcp = longestCommonPrefix(lcp, l.label);
  const left = build(leaves.filter((l) => getBit(l.label, lcp.labelLen) === 0));
  const right = build(leaves.filter((l) => getBit(l.label, lcp.labelLen) === 1));
  return {
    label: lcp,
    value: parentOf(element(left), element(right)),
    maxEpoch: left.maxEpoch > right.maxEpoch ? left.maxEpoch : right.maxEpoch,
    children: [left, right],
  };
}

interface Version {
  version: bigint;
  value: Uint8Array;
  epoch: bigint;
}

export class ReferenceDirectory {
  readonly key: VrfSecretKey;
  readonly commitmentKey: Uint8Array;
  epoch = 0n;
  readonly roots: Uint8Array[] = [];
  private readonly leaves: Leaf[] = [];
  private readonly users = new Map<string, Version[]>();
  /** the root's two children (undefined = missing); the root itself has label ROOT */
  private top: [Node | undefined, Node | undefined] = [undefined, undefined];

  constructor(vrfSecret: Uint8Array) {
    this.key = vrfSecretKey(vrfSecret);
    this.commitmentKey = w.commitmentKeyFromVrfSecret(vrfSecret);
    this.roots.push(w.EMPTY_TREE_ROOT_HASH);
  }

  publish(updates: [Uint8Array, Uint8Array][]): Uint8Array {
    this.epoch++;
    for (const [user, value] of updates) {
      const key = Buffer.from(user).toString('hex');
      const history = this.users.get(key) ?? [];
      const version = BigInt(history.length + 1);
      const { label } = proveNodeLabel(this.key, user, 'fresh', version);
      const commitment = w.freshAzksValue(this.commitmentKey, label, version, value);
      this.leaves.push({ label, commitment, epoch: this.epoch });
      if (version > 1n) {
        const stale = proveNodeLabel(this.key, user, 'stale', version - 1n).label;
        this.leaves.push({ label: stale, commitment: w.STALE_AZKS_VALUE, epoch: this.epoch });
      }
      history.push({ version, value, epoch: this.epoch });
      this.users.set(key, history);
    }
    this.top = [0, 1].map((b) => {
      const side = this.leaves.filter((l) => getBit(l.label, 0) === b);
      return side.length === 0 ? undefined : build(side);
    }) as [Node | undefined, Node | undefined];
    const root = w.rootHashFromValue(this.rootValue());
    this.roots.push(root);
    return root;
  }

  private rootValue(): Uint8Array {
    return parentOf(element(this.top[0]), element(this.top[1]));
  }

  /** Path from the root towards `target`: the steps and the deepest node that is a prefix of it. */
  private walk(target: NodeLabel): {
    steps: SiblingProof[];
    node: Node | undefined;
    children: [Node | undefined, Node | undefined];
  } {
    const steps: SiblingProof[] = [];
    let parentLabel: NodeLabel = { labelVal: new Uint8Array(32), labelLen: 0 };
    let children = this.top;
    let node: Node | undefined;
    for (;;) {
      const dir = getBit(target, parentLabel.labelLen) as Direction;
      const next = children[dir];
      if (!next || !isPrefixOf(next.label, target)) return { steps, node, children };
      steps.push({ label: parentLabel, sibling: element(children[1 - dir]), direction: dir });
      node = next;
      if (!next.children) return { steps, node, children };
      parentLabel = next.label;
      children = next.children;
    }
  }

  membership(target: NodeLabel): MembershipProof {
    const { steps, node } = this.walk(target);
    if (!node || !labelEquals(node.label, target)) throw new Error('label not in the tree');
    return { label: target, hashVal: node.value, siblingProofs: steps };
  }

  nonMembership(target: NodeLabel): NonMembershipProof {
    const { steps, node, children } = this.walk(target);
    if (node && labelEquals(node.label, target)) throw new Error('label is in the tree');
    // the longest prefix is `node` if it is interior, else the root
    const atRoot = node === undefined;
    const prefix: MembershipProof = atRoot
      ? { label: { labelVal: new Uint8Array(32), labelLen: 0 }, hashVal: this.rootValue(), siblingProofs: [] }
      : { label: node.label, hashVal: node.value, siblingProofs: steps };
    return {
      label: target,
      longestPrefix: prefix.label,
      longestPrefixChildren: [element(children[0]), element(children[1])],
      longestPrefixMembershipProof: prefix,
    };
  }

  lookup(user: Uint8Array): LookupProof {
    const history = this.users.get(Buffer.from(user).toString('hex'));
    const latest = history?.[history.length - 1];
    if (!latest) throw new Error('no such user');
    const v = latest.version;
    const existence = proveNodeLabel(this.key, user, 'fresh', v);
    const marker = proveNodeLabel(this.key, user, 'fresh', lookupMarkerVersion(v));
    const fresh = proveNodeLabel(this.key, user, 'stale', v);
    return {
      epoch: latest.epoch,
      value: latest.value,
      version: v,
      existenceVrfProof: existence.proof,
      existenceProof: this.membership(existence.label),
      markerVrfProof: marker.proof,
      markerProof: this.membership(marker.label),
      freshnessVrfProof: fresh.proof,
      freshnessProof: this.nonMembership(fresh.label),
      commitmentNonce: w.commitmentNonce(this.commitmentKey, existence.label, v, latest.value),
    };
  }

  history(user: Uint8Array, params: HistoryParams): HistoryProof {
    const all = [...(this.users.get(Buffer.from(user).toString('hex')) ?? [])].reverse();
    const versions = params.kind === 'complete' ? all : all.slice(0, params.n);
    if (versions.length === 0) throw new Error('no such user');
    const updateProofs: UpdateProof[] = versions.map((x) => {
      const fresh = proveNodeLabel(this.key, user, 'fresh', x.version);
      const stale = x.version > 1n ? proveNodeLabel(this.key, user, 'stale', x.version - 1n) : undefined;
      return {
        epoch: x.epoch,
        value: x.value,
        version: x.version,
        existenceVrfProof: fresh.proof,
        existenceProof: this.membership(fresh.label),
        previousVersionVrfProof: stale?.proof,
        previousVersionProof: stale ? this.membership(stale.label) : undefined,
        commitmentNonce: w.commitmentNonce(this.commitmentKey, fresh.label, x.version, x.value),
      };
    });
    const end = (versions[0] as Version).version;
    const start = (versions[versions.length - 1] as Version).version;
    const markers = getMarkerVersions(start, end, this.epoch);
    const past = markers.past.map((m) => proveNodeLabel(this.key, user, 'fresh', m));
    const future = markers.future.map((m) => proveNodeLabel(this.key, user, 'fresh', m));
    return {
      updateProofs,
      pastMarkerVrfProofs: past.map((p) => p.proof),
      existenceOfPastMarkerProofs: past.map((p) => this.membership(p.label)),
      futureMarkerVrfProofs: future.map((p) => p.proof),
      nonExistenceOfFutureMarkerProofs: future.map((p) => this.nonMembership(p.label)),
    };
  }

  /** The append-only proof of the transition into `endEpoch`, from the tree at `endEpoch`. */
  audit(endEpoch: bigint): SingleAppendOnlyProof {
    const at = this.leaves.filter((l) => l.epoch <= endEpoch);
    const unchangedNodes: AzksElement[] = [];
    const inserted: AzksElement[] = [];
    const visit = (n: Node) => {
      if (n.maxEpoch < endEpoch) unchangedNodes.push(element(n));
      else if (n.leaf) inserted.push({ label: n.label, value: n.leaf.commitment });
      else for (const c of n.children ?? []) visit(c);
    };
    for (const b of [0, 1]) {
      const side = at.filter((l) => getBit(l.label, 0) === b);
      if (side.length > 0) visit(build(side));
    }
    return { inserted, unchangedNodes };
  }
}

type Check = Record<string, unknown> & { kind: string; id: string; expect: 'valid' | 'invalid' };
const te = new TextEncoder();
const base64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
/** Our verdict on a proof, as a check's `expect`. */
export function verdict(f: () => unknown): 'valid' | 'invalid' {
  try {
    f();
    return 'valid';
  } catch {
    return 'invalid';
  }
}

/**
 * The reference scenario: 5 users over 8 epochs (user i publishes at epochs divisible by
 * i + 1), and the lookup, history (complete and most recent 2) and audit proofs of the last
 * epoch as checks for the Rust tool's `verify`, each with our verifiers' verdict. Deterministic.
 */
export function keyfleetMadeChecks(): Check[] {
  const out: Check[] = [];
  const seeded = (s: string) => blake3(te.encode(`keyfleet-ts-checks/${s}`));

  const dir = new ReferenceDirectory(seeded('reference-directory'));
  const users = ['alice', 'bob', 'carol', 'dave', 'eve'].map((u) => te.encode(u));
  for (let e = 1; e <= 8; e++) {
    const updates = users
      .filter((_, i) => e % (i + 1) === 0)
      .map((u, i) => [u, te.encode(`key-${i}-${e}`)] as [Uint8Array, Uint8Array]);
    dir.publish(updates);
  }
  const pk = bytesToHex(dir.key.publicKey.bytes);
  const root = dir.roots[dir.roots.length - 1] as Uint8Array;
  const common = { vrf_public_key: pk, root_hash: bytesToHex(root), epoch: Number(dir.epoch) };
  for (const u of users) {
    const user = bytesToHex(u);
    const lookup = dir.lookup(u);
    out.push({
      kind: 'lookup',
      id: `keyfleet-made lookup ${new TextDecoder().decode(u)}`,
      expect: verdict(() => lookupVerify(dir.key.publicKey, root, dir.epoch, u, lookup)),
      ...common,
      username: user,
      proof: base64(encodeLookupProof(lookup)),
    });
    for (const params of [{ kind: 'complete' }, { kind: 'most-recent', n: 2 }] as const) {
      const history = dir.history(u, params);
      out.push({
        kind: 'history',
        id: `keyfleet-made history ${new TextDecoder().decode(u)} ${params.kind}`,
        expect: verdict(() =>
          keyHistoryVerify(dir.key.publicKey, root, dir.epoch, u, history, { historyParams: params }),
        ),
        ...common,
        username: user,
        params: params.kind === 'complete' ? params : { kind: 'most_recent', n: params.n },
        allow_missing_values: false,
        proof: base64(encodeHistoryProof(history)),
      });
    }
  }
  const proofs = [];
  for (let e = 1n; e <= dir.epoch; e++) {
    const single = dir.audit(e);
    proofs.push(single);
    const [prev, cur] = [dir.roots[Number(e) - 1] as Uint8Array, dir.roots[Number(e)] as Uint8Array];
    out.push({
      kind: 'audit_blob',
      id: `keyfleet-made audit blob ${e}`,
      expect: verdict(() => verifyConsecutiveAppendOnly(single, prev, cur, e)),
      previous_hash: bytesToHex(prev),
      current_hash: bytesToHex(cur),
      end_epoch: Number(e),
      data: base64(encodeSingleAppendOnlyProof(single)),
    });
  }
  const all = { proofs, epochs: proofs.map((_, i) => BigInt(i)) };
  out.push({
    kind: 'audit',
    id: 'keyfleet-made audit 0..8',
    expect: verdict(() => auditVerify(dir.roots, all)),
    root_hashes: dir.roots.map(bytesToHex),
    proof: base64(encodeAppendOnlyProof(all)),
  });
  return out;
}
