// The witness: follows one directory epoch by epoch, checks each epoch's signed head and its
// append-only (audit) proof from the last root it verified, and countersigns the new root.
// It never signs a fork, a skipped epoch or a rewritten epoch: on any of them it records a
// refusal saying why and stops following the namespace (state is durable, so a restart does
// not forget either the verified root or the refusal).
import { verifyConsecutiveAppendOnly } from '@keyfleet/sdk/akd/audit';
import { decodeSingleAppendOnlyProof } from '@keyfleet/sdk/akd/codec';
import { EMPTY_TREE_ROOT_HASH } from '@keyfleet/sdk/akd/whatsapp-v1';
import { type EpochHead, verifyEpochHeadSignature } from '@keyfleet/sdk/directory/epoch-head';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { SigningKeys } from '../keys.ts';
import type { DirectoryMetrics } from '../metrics.ts';
import { CIPHERSUITE_ED25519_PROTOBUF, signCountersignature } from './countersignature.ts';
import type { DirectorySource, SignedHead } from './source.ts';
import type { NamespaceState, WitnessState } from './state.ts';

export type WitnessOptions = {
  readonly namespace: string;
  /** the directory publisher's Ed25519 public key (signs epoch heads) */
  readonly publisherKey: Uint8Array;
  readonly signing: SigningKeys;
  readonly source: DirectorySource;
  readonly state: WitnessState;
  readonly now: () => number;
  readonly metrics?: DirectoryMetrics;
};

export type StepResult =
  | { readonly kind: 'signed'; readonly epoch: number }
  | { readonly kind: 'idle'; readonly epoch: number }
  | { readonly kind: 'waiting'; readonly reason: string }
  | { readonly kind: 'refused'; readonly reason: string };

class Refusal extends Error {
  readonly epoch: number;
  constructor(epoch: number, message: string) {
    super(message);
    this.epoch = epoch;
  }
}

const short = (h: Uint8Array) => bytesToHex(h);

export class Witness {
  private readonly o: WitnessOptions;
  constructor(options: WitnessOptions) {
    this.o = options;
  }

  state(): NamespaceState {
    return this.o.state.namespace(this.o.namespace, EMPTY_TREE_ROOT_HASH);
  }

  countersignature(epoch: number) {
    return this.o.state.countersignature(this.o.namespace, epoch);
  }

  private checkHead(signed: SignedHead, epoch: number | undefined, at: number): EpochHead {
    let head: EpochHead;
    try {
      head = verifyEpochHeadSignature(signed.head, signed.signature, this.o.publisherKey);
    } catch (e) {
      throw new Refusal(at, `epoch head ${epoch ?? '(latest)'}: ${(e as Error).message}`);
    }
    if (head.namespace !== this.o.namespace) {
      throw new Refusal(
        at,
        `epoch head is for namespace ${JSON.stringify(head.namespace)}, not ${JSON.stringify(this.o.namespace)}`,
      );
    }
    if (epoch !== undefined && head.epoch !== epoch) {
      throw new Refusal(
        at,
        `asked for epoch ${epoch}, the directory answered with a head for epoch ${head.epoch}`,
      );
    }
    return head;
  }

  /** Verifies and countersigns at most one epoch. */
  async step(): Promise<StepResult> {
    const st = this.state();
    if (st.refusal !== undefined) return { kind: 'refused', reason: st.refusal };
    try {
      return await this.advance(st);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      this.o.state.refuse(this.o.namespace, e.epoch, e.message);
      return { kind: 'refused', reason: e.message };
    }
  }

  /** Steps until nothing is left to sign (or `max` epochs were signed). */
  async catchUp(max = 10_000): Promise<StepResult> {
    let last: StepResult = { kind: 'idle', epoch: this.state().epoch };
    for (let i = 0; i < max; i++) {
      last = await this.step();
      if (last.kind !== 'signed') break;
    }
    return last;
  }

  private async advance(st: NamespaceState): Promise<StepResult> {
    const { source } = this.o;
    const latestSigned = await source.latest();
    if (latestSigned === undefined) {
      if (st.epoch > 0)
        throw new Refusal(
          st.epoch,
          `rewritten history: the directory publishes no epoch, but epoch ${st.epoch} was witnessed`,
        );
      return { kind: 'idle', epoch: 0 };
    }
    const latest = this.checkHead(latestSigned, undefined, st.epoch + 1);
    this.o.metrics?.witnessLag.set(Math.max(0, latest.epoch - st.epoch));
    if (latest.epoch < st.epoch) {
      throw new Refusal(
        st.epoch,
        `rewritten history: the directory's latest epoch ${latest.epoch} is behind witnessed epoch ${st.epoch}`,
      );
    }
    if (st.epoch > 0) {
      const again = await source.head(st.epoch);
      if (again === undefined)
        throw new Refusal(st.epoch, `rewritten history: witnessed epoch ${st.epoch} is no longer published`);
      const head = this.checkHead(again, st.epoch, st.epoch);
      if (!equalBytes(head.rootHash, st.rootHash)) {
        throw new Refusal(
          st.epoch,
          `rewritten history: the root of epoch ${st.epoch} changed from ${short(st.rootHash)} (witnessed) to ${short(head.rootHash)}`,
        );
      }
    }
    if (latest.epoch === st.epoch) return { kind: 'idle', epoch: st.epoch };

    const epoch = st.epoch + 1;
    const signedHead = await source.head(epoch);
    if (signedHead === undefined) {
      throw new Refusal(
        epoch,
        `skipped epoch: the directory is at epoch ${latest.epoch} but publishes no epoch ${epoch}`,
      );
    }
    const head = this.checkHead(signedHead, epoch, epoch);
    if (!equalBytes(head.previousRootHash, st.rootHash)) {
      throw new Refusal(
        epoch,
        `fork: epoch ${epoch} extends root ${short(head.previousRootHash)}, but the witnessed root of epoch ${st.epoch} is ${short(st.rootHash)}`,
      );
    }
    const blobs = await source.auditBlobs(epoch);
    if (blobs.length === 0) return { kind: 'waiting', reason: `no audit blob stored for epoch ${epoch} yet` };
    if (blobs.length > 1)
      throw new Refusal(
        epoch,
        `fork: audit storage holds ${blobs.length} different blobs for epoch ${epoch}`,
      );
    const blob = blobs[0]!;
    if (!equalBytes(blob.previousRootHash, st.rootHash)) {
      throw new Refusal(
        epoch,
        `fork: the audit blob for epoch ${epoch} starts from ${short(blob.previousRootHash)}, not from the witnessed root ${short(st.rootHash)}`,
      );
    }
    if (!equalBytes(blob.rootHash, head.rootHash)) {
      throw new Refusal(
        epoch,
        `fork: the audit blob for epoch ${epoch} ends at ${short(blob.rootHash)}, the signed head at ${short(head.rootHash)}`,
      );
    }
    try {
      verifyConsecutiveAppendOnly(
        decodeSingleAppendOnlyProof(blob.proof),
        st.rootHash,
        head.rootHash,
        BigInt(epoch),
      );
    } catch (e) {
      throw new Refusal(
        epoch,
        `append-only proof for epoch ${epoch - 1} -> ${epoch} is invalid: ${(e as Error).message}`,
      );
    }
    const timestamp = this.o.now();
    const { message, signature } = signCountersignature(
      {
        ciphersuite: CIPHERSUITE_ED25519_PROTOBUF,
        namespace: this.o.namespace,
        timestamp,
        epoch,
        digest: head.rootHash,
      },
      this.o.signing.secret,
    );
    this.o.state.advance({
      namespace: this.o.namespace,
      epoch,
      rootHash: head.rootHash,
      timestamp,
      message,
      signature,
    });
    this.o.metrics?.witnessLag.set(Math.max(0, latest.epoch - epoch));
    return { kind: 'signed', epoch };
  }
}
