// Every single-byte mutation of what a bundle carries makes verification fail with the reason of
// the check that guards that byte. Blobs are mutated byte by byte in their decoded form (then
// re-encoded, so the bundle stays well-formed and the cryptographic check is what must catch it);
// the bundle text as a whole is mutated at a deterministic sample of positions covering each field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, NOW } from '../../../test/integration/attestation/fixture.ts';
import { decodeLookupProof } from '../akd/codec.ts';
import { signFleetStatement } from './attest.ts';
import { decodeBundle, encodeBundle, type ValidationBundle } from './bundle.ts';
import type { DsseEnvelope } from './dsse.ts';
import type { FleetStatement } from './statement.ts';
import { verifyFleetBundleBytes } from './verify.ts';

const f = new AttestationFixture();
let bundle: ValidationBundle;
let statement: FleetStatement;

beforeAll(async () => {
  ({ bundle, statement } = await f.attest(f.input()));
});
afterAll(() => f.close());

const verify = (b: ValidationBundle) =>
  verifyFleetBundleBytes(encodeBundle(b), f.trust, { now: NOW, maxClockSkewMs: 300_000 });

/** Asserts that every mutation fails with a reason starting with `prefix`; returns the count. */
function expectAll(mutants: Iterable<[string, ValidationBundle]>, prefix: string): number {
  let n = 0;
  for (const [where, mutant] of mutants) {
    const r = verify(mutant);
    if (r.valid || !r.reasons.some((x) => x.startsWith(prefix))) {
      throw new Error(
        `mutation at ${where}: expected a reason starting with ${JSON.stringify(prefix)}, got ${JSON.stringify(r.reasons)}`,
      );
    }
    n++;
  }
  return n;
}

/** Each byte of `bytes` flipped (by default xor 0x01 and xor 0x80), re-wrapped by `wrap`. */
function* eachByte(
  bytes: Uint8Array,
  wrap: (mutated: Uint8Array) => ValidationBundle,
  masks: readonly number[] = [0x01, 0x80],
): Generator<[string, ValidationBundle]> {
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of masks) {
      const m = bytes.slice();
      m[i] = (m[i] as number) ^ mask;
      yield [`byte ${i} ^ ${mask}`, wrap(m)];
    }
  }
}

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const withSig = (e: DsseEnvelope, sig: Uint8Array): DsseEnvelope => ({
  ...e,
  signatures: [{ keyid: e.signatures[0]!.keyid, sig: Buffer.from(sig).toString('base64') }],
});

describe('every single-byte mutation fails', () => {
  it('of the envelope payload (the statement): the operator signature', () => {
    const n = expectAll(
      eachByte(
        b64(bundle.envelope.payload),
        (m) => ({
          ...bundle,
          envelope: { ...bundle.envelope, payload: Buffer.from(m).toString('base64') },
        }),
        [0x01],
      ),
      'envelope: operator signature: the signature by the trusted operator key does not verify',
    );
    expect(n).toBe(b64(bundle.envelope.payload).length);
  }, 60_000);

  it("of the operator's signature and key id", { timeout: 60_000 }, () => {
    const e = bundle.envelope;
    expectAll(
      eachByte(b64(e.signatures[0]!.sig), (m) => ({ ...bundle, envelope: withSig(e, m) })),
      'envelope: operator signature: the signature by the trusted operator key does not verify',
    );
    const keyid = Buffer.from(e.signatures[0]!.keyid, 'hex');
    expectAll(
      eachByte(keyid, (m) => ({
        ...bundle,
        envelope: { ...e, signatures: [{ ...e.signatures[0]!, keyid: Buffer.from(m).toString('hex') }] },
      })),
      'envelope: operator signature: not signed by a trusted operator key',
    );
  });

  it('of the countersignature payload, signature and key id: the witness check', { timeout: 60_000 }, () => {
    const c = bundle.countersignature;
    expectAll(
      eachByte(
        b64(c.payload),
        (m) => ({ ...bundle, countersignature: { ...c, payload: Buffer.from(m).toString('base64') } }),
        [0x01],
      ),
      'countersignature: witness signature: the signature by the trusted witness key does not verify',
    );
    expectAll(
      eachByte(b64(c.signatures[0]!.sig), (m) => ({ ...bundle, countersignature: withSig(c, m) })),
      'countersignature: witness signature: the signature by the trusted witness key does not verify',
    );
    expectAll(
      eachByte(Buffer.from(c.signatures[0]!.keyid, 'hex'), (m) => ({
        ...bundle,
        countersignature: {
          ...c,
          signatures: [{ ...c.signatures[0]!, keyid: Buffer.from(m).toString('hex') }],
        },
      })),
      'countersignature: witness signature: not signed by a trusted witness key',
    );
  });

  it("of a member's HSM certificate, even in a statement the operator signed: the chain check", () => {
    for (const [index, member] of statement.predicate.members.entries()) {
      const cert = new Uint8Array(Buffer.from(member.hsmCertificate, 'base64url'));
      expectAll(
        eachByte(
          cert,
          (m) => {
            const members = statement.predicate.members.map((x, i) =>
              i === index ? { ...x, hsmCertificate: Buffer.from(m).toString('base64url') } : x,
            );
            const s = { ...statement, predicate: { ...statement.predicate, members } };
            return { ...bundle, envelope: signFleetStatement(s, f.operator) };
          },
          [0x01],
        ),
        `member ${member.id}: `,
      );
    }
  }, 60_000);

  it('of the directory lookup proof: the inclusion check', () => {
    const inclusion = bundle.directoryInclusion!;
    const proof = new Uint8Array(Buffer.from(inclusion.lookup.proof, 'base64url'));
    // Inside the three 80-byte VRF proofs (each mutation costs VRF verifications, and the VRF is
    // mutated bit by bit in sdk/src/vrf): the ends of Gamma, c and s. Every other byte: all.
    const decoded = decodeLookupProof(proof);
    const vrfOffsets = new Set([0, 31, 32, 47, 48, 79]);
    const inVrf = new Map<number, number>();
    let from = 0;
    for (const vrf of [decoded.existenceVrfProof, decoded.markerVrfProof, decoded.freshnessVrfProof]) {
      const at = Buffer.from(proof).indexOf(Buffer.from(vrf), from);
      from = at + 80;
      expect(at).toBeGreaterThan(0);
      for (let k = 0; k < 80; k++) inVrf.set(at + k, k);
    }
    const wrap = (m: Uint8Array): ValidationBundle => ({
      ...bundle,
      directoryInclusion: {
        ...inclusion,
        lookup: { ...inclusion.lookup, proof: Buffer.from(m).toString('base64url') },
      },
    });
    function* mutants(): Generator<[string, ValidationBundle]> {
      for (const [where, mutant] of eachByte(proof, (m) => m as unknown as ValidationBundle)) {
        const i = Number(where.split(' ')[1]);
        const k = inVrf.get(i);
        if (k !== undefined && (!vrfOffsets.has(k) || !where.endsWith('^ 1'))) continue;
        yield [where, wrap(mutant as unknown as Uint8Array)];
      }
    }
    const n = expectAll(mutants(), 'directory inclusion: ');
    expect(n).toBe((proof.length - inVrf.size) * 2 + 3 * vrfOffsets.size);
  }, 120_000);

  it('of the signed epoch head, its signature and its served fields: the inclusion check', () => {
    const inclusion = bundle.directoryInclusion!;
    const head = inclusion.lookup.epoch;
    const withHead = (h: typeof head): ValidationBundle => ({
      ...bundle,
      directoryInclusion: { ...inclusion, lookup: { ...inclusion.lookup, epoch: h } },
    });
    const signedBytes = new Uint8Array(Buffer.from(head.head, 'base64url'));
    expectAll(
      eachByte(signedBytes, (m) => withHead({ ...head, head: Buffer.from(m).toString('base64url') })),
      'directory inclusion: epoch head: the epoch head signature does not verify with the directory signing key',
    );
    expectAll(
      eachByte(new Uint8Array(Buffer.from(head.signature, 'base64url')), (m) =>
        withHead({ ...head, signature: Buffer.from(m).toString('base64url') }),
      ),
      'directory inclusion: epoch head: the epoch head signature does not verify with the directory signing key',
    );
    for (const field of ['rootHash', 'previousRootHash'] as const) {
      expectAll(
        eachByte(Buffer.from(head[field], 'hex'), (m) =>
          withHead({ ...head, [field]: Buffer.from(m).toString('hex') }),
        ),
        `directory inclusion: epoch head: the served ${field} `,
      );
    }
    expectAll(
      [['epoch', withHead({ ...head, epoch: head.epoch + 1 })]],
      'directory inclusion: epoch head: the served epoch ',
    );
    expectAll(
      [['timestamp', withHead({ ...head, timestamp: head.timestamp - 1 })]],
      'directory inclusion: epoch head: the served timestamp ',
    );
    expectAll(
      [['namespace', withHead({ ...head, namespace: 'vaults/keyz' })]],
      'directory inclusion: epoch head: the served namespace ',
    );
    expect(
      verify({ ...bundle, directoryInclusion: { ...inclusion, epoch: inclusion.epoch + 1 } }).reasons,
    ).toContain("directory inclusion: epoch: 2 is not the signed head's epoch 1");
  }, 60_000);

  it('of the bundle text, at every field (sampled positions): decoding or a check fails', () => {
    const text = encodeBundle(bundle);
    expect(decodeBundle(text)).toEqual(bundle);
    // Every 7th byte, and every byte of the JSON structure (keys, punctuation, numbers).
    const structural = /[^A-Za-z0-9+/=_-]/;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = String.fromCharCode(text[i] as number);
      if (
        i % 7 !== 0 &&
        !structural.test(ch) &&
        !/"[a-zA-Z]+"$/.test(Buffer.from(text.subarray(Math.max(0, i - 30), i + 2)).toString())
      )
        continue;
      const m = text.slice();
      m[i] = (m[i] as number) ^ 0x01;
      const r = verifyFleetBundleBytes(m, f.trust, { now: NOW, maxClockSkewMs: 300_000 });
      if (r.valid) throw new Error(`text mutation at ${i} (${JSON.stringify(ch)}) still verifies`);
      n++;
    }
    expect(n).toBeGreaterThan(text.length / 13);
  }, 120_000);
});
