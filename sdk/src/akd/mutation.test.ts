// Every single-byte mutation of an akd-encoded proof is rejected with an AkdError: for the small
// fixtures at every byte (inside VRF proofs: see `positions`), for the larger ones at the tag,
// the length and the first, middle and last content byte of every field occurrence.
import type { DescMessage } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import {
  auditFixtures,
  b64,
  directoryKey,
  type HistoryFixture,
  historyFixtures,
  historyParams,
  lookupFixtures,
} from '../../../test/interop/load.ts';
import { auditVerify, parseAuditBlobName, verifyConsecutiveAppendOnly } from './audit.ts';
import { hexToBytes } from './bytes.ts';
import {
  decodeAppendOnlyProof,
  decodeHistoryProof,
  decodeLookupProof,
  decodeSingleAppendOnlyProof,
} from './codec.ts';
import { AkdError } from './errors.ts';
import * as pb from './proto/akd_types_pb.generated.ts';
import { keyHistoryVerify, lookupVerify } from './verify.ts';

/**
 * Positions covering every field occurrence of an encoded message: tag, length, first,
 * middle and last content byte; inside 80-byte VRF proofs the ends of Gamma, c and s.
 * With `exhaustive`, every byte outside VRF proofs too (those are flipped bit by bit in
 * the VRF tests; each costs a full VRF verification here).
 */
function positions(desc: DescMessage, bytes: Uint8Array, exhaustive: boolean): Map<number, number[]> {
  const out = new Set<number>();
  const structural = new Set<number>();
  const vrf: [number, number][] = [];
  const walk = (d: DescMessage, r: BinaryReader, end: number) => {
    while (r.pos < end) {
      out.add(r.pos); // tag
      structural.add(r.pos);
      const [no, wt] = r.tag();
      const f = d.fields.find((x) => x.number === no);
      if (wt === WireType.LengthDelimited) {
        out.add(r.pos); // length
        structural.add(r.pos);
        const len = r.uint32();
        const start = r.pos;
        if (len > 0) for (const o of [0, len >> 1, len - 1]) out.add(start + o);
        if (len === 80) {
          vrf.push([start, start + 80]);
          for (const o of [31, 32, 47, 48]) out.add(start + o);
        }
        const sub = f && (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message'));
        if (sub) walk(f.message as DescMessage, r, start + len);
        else r.pos = start + len;
      } else {
        const start = r.pos;
        r.uint64();
        out.add(start);
        out.add(r.pos - 1);
      }
    }
  };
  walk(desc, new BinaryReader(bytes), bytes.length);
  if (exhaustive) {
    for (let i = 0; i < bytes.length; i++) if (!vrf.some(([a, b]) => i >= a && i < b)) out.add(i);
  }
  // tags and lengths get two flips (another field or wire type, another length)
  return new Map([...out].sort((a, b) => a - b).map((p) => [p, structural.has(p) ? [0x01, 0x80] : [0x01]]));
}

function expectAllRejected(
  bytes: Uint8Array,
  mutations: Map<number, number[]>,
  check: (b: Uint8Array) => void,
): number {
  let n = 0;
  for (const [pos, flips] of mutations) {
    for (const flip of flips) {
      const bad = bytes.slice();
      bad[pos] = (bad[pos] as number) ^ flip;
      let error: unknown;
      try {
        check(bad);
      } catch (e) {
        error = e;
      }
      expect(error, `byte ${pos} ^ 0x${flip.toString(16)} was accepted`).toBeInstanceOf(AkdError);
      n++;
    }
  }
  return n;
}

const SLOW = { timeout: 120_000 };

describe('single-byte mutations of lookup proofs', () => {
  const fx = lookupFixtures();
  const cases = [
    { note: 'only user, root has one child', exhaustive: true },
    { note: 'version 1 at epoch 5', exhaustive: false },
    { note: 'version 300, marker 256', exhaustive: false },
  ];
  for (const c of cases) {
    const f = fx.lookups.find((l) => l.note === c.note);
    it(`${c.note} (${c.exhaustive ? 'every byte outside VRF proofs' : 'every field'})`, SLOW, () => {
      if (!f) throw new Error(`fixture ${c.note} missing`);
      const bytes = b64(f.proof);
      const pk = directoryKey(fx.directories, f.directory);
      const check = (b: Uint8Array) =>
        lookupVerify(
          pk,
          hexToBytes(f.root_hash),
          BigInt(f.epoch),
          hexToBytes(f.username),
          decodeLookupProof(b),
        );
      check(bytes); // the original verifies
      const at = positions(pb.LookupProofSchema, bytes, c.exhaustive);
      expect(expectAllRejected(bytes, at, check)).toBeGreaterThan(100);
    });
  }
});

describe('single-byte mutations of history proofs', () => {
  const fx = historyFixtures();
  const cases = [
    { note: 'single version', exhaustive: true },
    { note: 'most recent 1 of 5', exhaustive: false },
    { note: '3 versions, future markers up to 256', exhaustive: false },
  ];
  for (const c of cases) {
    const f = fx.histories.find((h) => h.note === c.note) as HistoryFixture;
    it(`${c.note} (${c.exhaustive ? 'every byte outside VRF proofs' : 'every field'})`, SLOW, () => {
      const bytes = b64(f.proof);
      const pk = directoryKey(fx.directories, f.directory);
      const check = (b: Uint8Array) =>
        keyHistoryVerify(
          pk,
          hexToBytes(f.root_hash),
          BigInt(f.epoch),
          hexToBytes(f.username),
          decodeHistoryProof(b),
          historyParams(f),
        );
      check(bytes);
      const at = positions(pb.HistoryProofSchema, bytes, c.exhaustive);
      expect(expectAllRejected(bytes, at, check)).toBeGreaterThan(100);
    });
  }
});

describe('single-byte mutations of audit proofs and blobs', () => {
  const fx = auditFixtures();
  it('append-only proof over two transitions (every field)', SLOW, () => {
    const f = fx.audits.find((a) => a.note === 'two transitions mid-history');
    if (!f) throw new Error('fixture missing');
    const bytes = b64(f.proof);
    const hashes = f.root_hashes.map(hexToBytes);
    const check = (b: Uint8Array) =>
      auditVerify(hashes, decodeAppendOnlyProof(b), { startEpoch: BigInt(f.start_epoch) });
    check(bytes);
    expect(expectAllRejected(bytes, positions(pb.AppendOnlyProofSchema, bytes, true), check)).toBeGreaterThan(
      1000,
    );
  });

  it('audit blobs (every field) and their names (every character)', SLOW, () => {
    for (const f of fx.audit_blobs) {
      const bytes = b64(f.data);
      const name = parseAuditBlobName(f.name);
      const check = (b: Uint8Array) =>
        verifyConsecutiveAppendOnly(
          decodeSingleAppendOnlyProof(b),
          name.previousHash,
          name.currentHash,
          name.epoch,
        );
      check(bytes);
      expectAllRejected(bytes, positions(pb.SingleAppendOnlyProofSchema, bytes, false), check);
      // a changed name (epoch or either hash) no longer matches the proof
      for (let i = 0; i < f.name.length; i++) {
        if (f.name[i] === '/') continue;
        const ch = f.name[i] === '1' ? '2' : '1';
        const badName = f.name.slice(0, i) + ch + f.name.slice(i + 1);
        expect(() => {
          const n = parseAuditBlobName(badName);
          verifyConsecutiveAppendOnly(
            decodeSingleAppendOnlyProof(bytes),
            n.previousHash,
            n.currentHash,
            n.epoch,
          );
        }, badName).toThrow(AkdError);
      }
    }
  });
});
