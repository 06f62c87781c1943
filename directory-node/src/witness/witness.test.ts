import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signingKeys } from '../keys.ts';
import type { EpochRecord } from '../storage/types.ts';
import { DirectoryHarness } from '../testing/directory-harness.ts';
import { verifyCountersignature } from './countersignature.ts';
import type { AuditBlob, DirectorySource, SignedHead } from './source.ts';
import { WitnessState } from './state.ts';
import { Witness } from './witness.ts';

/** A directory as a witness sees it, assembled from published epoch records. */
class FakeSource implements DirectorySource {
  heads = new Map<number, SignedHead>();
  blobs = new Map<number, AuditBlob[]>();
  latestEpoch = 0;
  add(r: EpochRecord, latest = true) {
    this.heads.set(r.epoch, { head: r.head, signature: r.signature });
    this.blobs.set(r.epoch, [
      { previousRootHash: r.previousRootHash, rootHash: r.rootHash, proof: r.auditBlob },
    ]);
    if (latest) this.latestEpoch = Math.max(this.latestEpoch, r.epoch);
  }
  async latest() {
    return this.heads.get(this.latestEpoch);
  }
  async head(epoch: number) {
    return this.heads.get(epoch);
  }
  async auditBlobs(epoch: number) {
    return this.blobs.get(epoch) ?? [];
  }
}

const publisherSecret = ed25519.utils.randomSecretKey();
const witnessKeys = signingKeys(ed25519.utils.randomSecretKey());
let dir: string;
let a: DirectoryHarness;
let b: DirectoryHarness;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kf-witness-'));
  a = new DirectoryHarness(new Uint8Array(32).fill(1), 'ns', publisherSecret);
  b = new DirectoryHarness(new Uint8Array(32).fill(1), 'ns', publisherSecret);
});
afterEach(() => {
  a.close();
  b.close();
  rmSync(dir, { recursive: true, force: true });
});

function witnessOver(source: DirectorySource, statePath = join(dir, 'w.db')) {
  const state = new WitnessState(statePath);
  const w = new Witness({
    namespace: 'ns',
    publisherKey: a.ctx.signing.publicKey,
    signing: witnessKeys,
    source,
    state,
    now: () => 1234,
  });
  return { w, state };
}

async function publishAll(h: DirectoryHarness, epochs: [string, string][][]): Promise<EpochRecord[]> {
  const out: EpochRecord[] = [];
  for (const updates of epochs) out.push((await h.publish(updates))!);
  return out;
}

describe('Witness', () => {
  it('verifies and countersigns every epoch, durably across a restart', async () => {
    const src = new FakeSource();
    const records = await publishAll(a, [
      [['alice', '1']],
      [
        ['bob', '1'],
        ['alice', '2'],
      ],
      [['carol', '1']],
    ]);
    for (const r of records.slice(0, 2)) src.add(r);
    const first = witnessOver(src);
    expect(await first.w.catchUp()).toEqual({ kind: 'idle', epoch: 2 });
    const sig = first.w.countersignature(2)!;
    const msg = verifyCountersignature(sig.message, sig.signature, witnessKeys.publicKey);
    expect(msg).toMatchObject({ namespace: 'ns', epoch: 2, timestamp: 1234, ciphersuite: 1 });
    expect(msg.digest).toEqual(records[1]!.rootHash);
    first.state.close();

    src.add(records[2]!);
    const again = witnessOver(src);
    expect(again.w.state().epoch).toBe(2);
    expect(await again.w.step()).toEqual({ kind: 'signed', epoch: 3 });
    again.state.close();
  });

  it('waits for a missing audit blob instead of signing', async () => {
    const src = new FakeSource();
    const [r1] = await publishAll(a, [[['alice', '1']]]);
    src.add(r1!);
    src.blobs.delete(1);
    const { w, state } = witnessOver(src);
    expect((await w.step()).kind).toBe('waiting');
    expect(w.countersignature(1)).toBeUndefined();
    state.close();
  });

  it('refuses a fork: an epoch that extends a different root', async () => {
    const ra = await publishAll(a, [[['alice', '1']], [['bob', '1']]]);
    const rb = await publishAll(b, [[['alice', '1']], [['mallory', '1']], [['bob', '1']]]);
    const src = new FakeSource();
    for (const r of ra) src.add(r);
    const { w, state } = witnessOver(src);
    expect(await w.catchUp()).toEqual({ kind: 'idle', epoch: 2 });
    src.add(rb[2]!);
    const res = await w.step();
    expect(res.kind).toBe('refused');
    expect(res.kind === 'refused' && res.reason).toMatch(/^fork: epoch 3 extends root/);
    expect(w.countersignature(3)).toBeUndefined();
    expect((await w.step()).kind).toBe('refused');
    state.close();
  });

  it('refuses rewritten history: a witnessed epoch whose root changed', async () => {
    const ra = await publishAll(a, [[['alice', '1']], [['bob', '1']]]);
    const rb = await publishAll(b, [[['alice', '1']], [['mallory', '1']], [['bob', '1']]]);
    const src = new FakeSource();
    for (const r of ra) src.add(r);
    const { w, state } = witnessOver(src);
    await w.catchUp();
    for (const r of rb) src.add(r);
    const res = await w.step();
    expect(res.kind === 'refused' && res.reason).toMatch(/^rewritten history: the root of epoch 2 changed/);
    state.close();
    const reopened = witnessOver(src);
    expect(reopened.w.state().refusal).toMatch(/rewritten history/);
    reopened.state.close();
  });

  it('refuses a skipped epoch, two blobs for one epoch, a bad proof and a forged head', async () => {
    const records = await publishAll(a, [[['alice', '1']], [['bob', '1']], [['carol', '1']]]);
    const cases: [string, (s: FakeSource) => void, RegExp][] = [
      ['skipped', (s) => s.heads.delete(2), /^skipped epoch: .* no epoch 2/],
      [
        'two blobs',
        (s) => s.blobs.get(2)!.push({ ...s.blobs.get(2)![0]!, rootHash: new Uint8Array(32).fill(9) }),
        /^fork: audit storage holds 2 different blobs for epoch 2/,
      ],
      [
        'bad proof',
        (s) => {
          const blob = s.blobs.get(2)![0]!;
          const proof = Uint8Array.from(blob.proof);
          proof[proof.length - 1]! ^= 1;
          s.blobs.set(2, [{ ...blob, proof }]);
        },
        /^append-only proof for epoch 1 -> 2 is invalid/,
      ],
      [
        'forged head',
        (s) => {
          const h = s.heads.get(2)!;
          const signature = Uint8Array.from(h.signature);
          signature[0]! ^= 1;
          s.heads.set(2, { ...h, signature });
        },
        /^epoch head 2: the epoch head signature does not verify/,
      ],
    ];
    for (const [name, tamper, expected] of cases) {
      const src = new FakeSource();
      for (const r of records) src.add(r);
      tamper(src);
      const { w, state } = witnessOver(src, join(dir, `${name}.db`));
      const res = await w.catchUp();
      expect(res.kind, name).toBe('refused');
      expect(res.kind === 'refused' && res.reason, name).toMatch(expected);
      expect(w.state().epoch, name).toBe(1);
      state.close();
    }
  });
});
