// akd -> keyfleet: every proof the akd crate (0.13.0, WhatsApp v1) produced in
// test/interop/fixtures verifies with our verifiers, gives akd's results, and re-encodes
// to akd's exact bytes.

import { readFileSync } from 'node:fs';
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
import {
  auditVerify,
  formatAuditBlobName,
  parseAuditBlobName,
  verifyConsecutiveAppendOnly,
} from './audit.ts';
import { bytesToHex, hexToBytes } from './bytes.ts';
import {
  decodeAppendOnlyProof,
  decodeHistoryProof,
  decodeLookupProof,
  decodeSingleAppendOnlyProof,
  encodeAppendOnlyProof,
  encodeHistoryProof,
  encodeLookupProof,
  encodeSingleAppendOnlyProof,
} from './codec.ts';
import { AkdError } from './errors.ts';
import type { VerifyResult } from './types.ts';
import { keyHistoryVerify, lookupVerify } from './verify.ts';

const results = (r: VerifyResult[]) =>
  r.map((x) => ({ epoch: Number(x.epoch), version: Number(x.version), value: bytesToHex(x.value) }));

describe('lookup proofs from akd', () => {
  const fx = lookupFixtures();
  expect(fx.lookups.length).toBeGreaterThan(5);
  for (const f of fx.lookups) {
    it(`${f.directory}: ${f.username_utf8}, ${f.note}`, () => {
      const bytes = b64(f.proof);
      const proof = decodeLookupProof(bytes);
      expect(bytesToHex(encodeLookupProof(proof))).toBe(bytesToHex(bytes));
      const pk = directoryKey(fx.directories, f.directory);
      const root = hexToBytes(f.root_hash);
      const user = hexToBytes(f.username);
      const r = lookupVerify(pk, root, BigInt(f.epoch), user, proof);
      expect(results([r])).toEqual([f.expected]);
      // the same proof for another user, another epoch, another root or another key fails
      expect(() => lookupVerify(pk, root, BigInt(f.epoch), hexToBytes(`${f.username}00`), proof)).toThrow(
        AkdError,
      );
      expect(() => lookupVerify(pk, root, BigInt(f.epoch) + 1n, user, proof)).not.toThrow(); // epoch only bounds
      expect(() => lookupVerify(pk, root, proof.version - 1n, user, proof)).toThrow(
        /greater than the current epoch/,
      );
      const badRoot = root.slice();
      badRoot[0] = (badRoot[0] as number) ^ 1;
      expect(() => lookupVerify(pk, badRoot, BigInt(f.epoch), user, proof)).toThrow(
        /does not hash to root at epoch/,
      );
      const otherKey = directoryKey(fx.directories, f.directory === 'long' ? 'sparse' : 'long');
      expect(() => lookupVerify(otherKey, root, BigInt(f.epoch), user, proof)).toThrow(/VRF/);
    });
  }
});

describe('history proofs from akd', () => {
  const fx = historyFixtures();
  for (const f of fx.histories) {
    it(`${f.directory}: ${f.username_utf8}, ${f.note} (${f.expect})`, () => {
      const bytes = b64(f.proof);
      const proof = decodeHistoryProof(bytes);
      expect(bytesToHex(encodeHistoryProof(proof))).toBe(bytesToHex(bytes));
      const pk = directoryKey(fx.directories, f.directory);
      const run = () =>
        keyHistoryVerify(
          pk,
          hexToBytes(f.root_hash),
          BigInt(f.epoch),
          hexToBytes(f.username),
          proof,
          historyParams(f),
        );
      if (f.expect === 'valid') {
        expect(results(run())).toEqual(f.expected);
      } else {
        expect(run).toThrow(AkdError);
      }
    });
  }

  it('rejects a complete history checked as "most recent 1" and the reverse', () => {
    const f = fx.histories.find((h) => h.note === '6 versions at epoch 12') as HistoryFixture;
    const proof = decodeHistoryProof(b64(f.proof));
    const pk = directoryKey(fx.directories, f.directory);
    const args = [pk, hexToBytes(f.root_hash), BigInt(f.epoch), hexToBytes(f.username), proof] as const;
    expect(() => keyHistoryVerify(...args, { historyParams: { kind: 'most-recent', n: 1 } })).toThrow(
      /at most 1/,
    );
    const recent = fx.histories.find((h) => h.note === 'most recent 3 of 20') as HistoryFixture;
    const rp = decodeHistoryProof(b64(recent.proof));
    expect(() =>
      keyHistoryVerify(
        pk,
        hexToBytes(recent.root_hash),
        BigInt(recent.epoch),
        hexToBytes(recent.username),
        rp,
      ),
    ).toThrow(/must start at version 1/);
  });
});

describe('audit proofs from akd', () => {
  const fx = auditFixtures();
  for (const f of fx.audits) {
    it(`${f.directory}: epochs ${f.start_epoch}..${f.end_epoch}, ${f.note}`, () => {
      const bytes = b64(f.proof);
      const proof = decodeAppendOnlyProof(bytes);
      expect(bytesToHex(encodeAppendOnlyProof(proof))).toBe(bytesToHex(bytes));
      const hashes = f.root_hashes.map(hexToBytes);
      auditVerify(hashes, proof, { startEpoch: BigInt(f.start_epoch) });
      expect(() => auditVerify(hashes, proof, { startEpoch: BigInt(f.start_epoch) + 1n })).toThrow(
        /expected/,
      );
      expect(() => auditVerify([...hashes].reverse(), proof)).toThrow(AkdError);
      expect(() => auditVerify(hashes.slice(1), proof)).toThrow(/root hashes/);
    });
  }

  for (const f of fx.audit_blobs) {
    it(`audit blob ${f.directory} ${f.name.slice(0, 12)}...`, () => {
      const name = parseAuditBlobName(f.name);
      expect(formatAuditBlobName(name)).toBe(f.name);
      expect(name.epoch).toBe(BigInt(f.end_epoch));
      const data = b64(f.data);
      const proof = decodeSingleAppendOnlyProof(data);
      expect(bytesToHex(encodeSingleAppendOnlyProof(proof))).toBe(bytesToHex(data));
      verifyConsecutiveAppendOnly(proof, name.previousHash, name.currentHash, name.epoch);
      // the inserted leaves are hashed with the end epoch: any other epoch fails
      expect(() =>
        verifyConsecutiveAppendOnly(proof, name.previousHash, name.currentHash, name.epoch + 1n),
      ).toThrow(/not to the epoch/);
      expect(() =>
        verifyConsecutiveAppendOnly(proof, name.currentHash, name.previousHash, name.epoch),
      ).toThrow(AkdError);
    });
  }
});

describe('adversarial proofs (test/interop/fixtures/adversarial.json)', () => {
  const fx = JSON.parse(
    readFileSync(new URL('../../../test/interop/fixtures/adversarial.json', import.meta.url), 'utf8'),
  );
  for (const f of fx.proofs) {
    it(`${f.note}: akd 0.13 accepted=${f.akd_0_13_result.accepted}, we reject`, () => {
      const proof = decodeLookupProof(b64(f.proof));
      const pk = directoryKey(fx.directories, f.directory);
      expect(() =>
        lookupVerify(pk, hexToBytes(f.root_hash), BigInt(f.epoch), hexToBytes(f.username), proof),
      ).toThrow(/is a prefix of the label/);
    });
  }
});
