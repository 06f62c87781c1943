/**
 * keyfleet -> akd: writes what the TypeScript sdk produces (VRF proofs, node labels,
 * commitments, tree roots, re-encoded proofs, and mutated proofs it rejects) as a checks
 * file for the Rust tool's `verify` command, which checks each item with the akd crate:
 *
 *   npm exec -- node test/interop/ts-checks.ts [OUT.json] [--write-fixture]   (default /tmp/keyfleet-checks.json)
 *   cd test/interop && nice -n 10 cargo run --release -- verify /tmp/keyfleet-checks.json
 *
 * Every item carries `expect` ("valid" or "invalid", our verdict); the Rust tool exits 1 if
 * akd disagrees on any item.
 */
import { writeFileSync } from 'node:fs';
import { blake3 } from '@noble/hashes/blake3.js';
import {
  auditVerify,
  bytesToHex,
  computeRootHash,
  decodeAppendOnlyProof,
  decodeHistoryProof,
  decodeLookupProof,
  encodeAppendOnlyProof,
  encodeHistoryProof,
  encodeLookupProof,
  hexToBytes,
  keyHistoryVerify,
  leafElement,
  leafLabel,
  lookupVerify,
  proveNodeLabel,
  whatsappV1,
} from '../../sdk/src/akd/index.ts';
import type { AzksElement } from '../../sdk/src/akd/types.ts';
import { vrfProve, vrfPublicKeyFromSecret, vrfVerify } from '../../sdk/src/vrf/ecvrf.ts';
import { auditFixtures, b64, directoryKey, historyFixtures, historyParams, lookupFixtures } from './load.ts';
import { keyfleetMadeChecks, verdict } from './reference-directory.ts';

type Check = Record<string, unknown> & { kind: string; id: string; expect: 'valid' | 'invalid' };
const checks: Check[] = [];
const te = new TextEncoder();
const seeded = (s: string) => blake3(te.encode(`keyfleet-ts-checks/${s}`));
const base64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const labelJson = (l: { labelVal: Uint8Array; labelLen: number }) => ({
  label_val: bytesToHex(l.labelVal),
  label_len: l.labelLen,
});

// VRF proofs made by our prover.
for (let i = 0; i < 8; i++) {
  const sk = seeded(`vrf-key-${i}`);
  const alpha = seeded(`alpha-${i}`).subarray(0, i * 4);
  const pi = vrfProve(sk, alpha);
  const pk = vrfPublicKeyFromSecret(sk);
  checks.push({
    kind: 'vrf',
    id: `vrf-${i}`,
    expect: 'valid',
    pk: bytesToHex(pk),
    alpha: bytesToHex(alpha),
    pi: bytesToHex(pi),
    beta: bytesToHex(vrfVerify(pk, pi, alpha)),
  });
}

// Node labels and their VRF proofs, fresh and stale, for assorted versions.
const labelKey = seeded('label-key');
for (const [i, [user, version]] of (
  [
    ['alice', 1n],
    ['alice', 2n],
    ['', 7n],
    ['\u00e9l\u00e8ve', 1n << 40n],
    ['bob', (1n << 64n) - 1n],
  ] as const
).entries()) {
  for (const freshness of ['fresh', 'stale'] as const) {
    const { label, proof } = proveNodeLabel(labelKey, te.encode(user), freshness, version);
    checks.push({
      kind: 'label',
      id: `label-${i}-${freshness}`,
      expect: 'valid',
      sk: bytesToHex(labelKey),
      username: bytesToHex(te.encode(user)),
      version: version.toString(),
      freshness,
      label: labelJson(label),
      vrf_proof: bytesToHex(proof),
    });
  }
}

// Commitments.
const ck = whatsappV1.commitmentKeyFromVrfSecret(labelKey);
for (let i = 0; i < 4; i++) {
  const label = leafLabel(seeded(`commit-label-${i}`));
  const value = seeded(`commit-value-${i}`).subarray(0, i * 9);
  const version = BigInt(i * 1000 + 1);
  checks.push({
    kind: 'commitment',
    id: `commitment-${i}`,
    expect: 'valid',
    commitment_key: bytesToHex(ck),
    label: labelJson(label),
    version: version.toString(),
    value: bytesToHex(value),
    nonce: bytesToHex(whatsappV1.commitmentNonce(ck, label, version, value)),
    commitment: bytesToHex(whatsappV1.freshAzksValue(ck, label, version, value)),
  });
}

// Tree roots over batches of leaves inserted at epochs 1, 2, ... (some with long shared prefixes).
for (const [t, sizes] of [[1], [3, 1, 4], [64, 2, 33]].entries()) {
  const elements: AzksElement[] = [];
  const batches = [];
  let n = 0;
  for (const [e, size] of sizes.entries()) {
    const leaves = [];
    for (let k = 0; k < size; k++, n++) {
      const val = seeded(`tree-${t}-label-${n}`);
      if (n % 4 === 3) val.set(seeded(`tree-${t}-label-${n - 1}`).subarray(0, 24)); // share 192+ bits
      const label = leafLabel(val);
      const commitment = seeded(`tree-${t}-value-${n}`);
      leaves.push({ label: labelJson(label), commitment: bytesToHex(commitment) });
      elements.push(leafElement(label, commitment, BigInt(e + 1)));
    }
    batches.push({ leaves, root_hash: bytesToHex(computeRootHash(elements)) });
  }
  checks.push({ kind: 'tree', id: `tree-${t}`, expect: 'valid', batches });
}

/** A few deterministic single-byte mutations of `bytes`. */
function mutations(bytes: Uint8Array, count: number): Uint8Array[] {
  const out = [];
  for (let i = 0; i < count; i++) {
    const pos = Math.floor(((i + 0.5) * bytes.length) / count);
    const bad = bytes.slice();
    bad[pos] = (bad[pos] as number) ^ (i % 2 === 0 ? 0x01 : 0x80);
    out.push(bad);
  }
  return out;
}

// Lookup proofs: re-encoded by our encoder, and mutated ones we reject.
const L = lookupFixtures();
for (const f of L.lookups) {
  const pk = directoryKey(L.directories, f.directory);
  const common = {
    vrf_public_key: bytesToHex(pk),
    root_hash: f.root_hash,
    epoch: f.epoch,
    username: f.username,
  };
  const reencoded = encodeLookupProof(decodeLookupProof(b64(f.proof)));
  const variants = [reencoded, ...mutations(reencoded, 12)];
  for (const [i, bytes] of variants.entries()) {
    const expect = verdict(() =>
      lookupVerify(
        pk,
        hexToBytes(f.root_hash),
        BigInt(f.epoch),
        hexToBytes(f.username),
        decodeLookupProof(bytes),
      ),
    );
    checks.push({
      kind: 'lookup',
      id: `lookup-${f.directory}-${f.username_utf8}-${f.epoch}-${i}`,
      expect,
      ...common,
      proof: base64(bytes),
    });
  }
}

// History proofs.
const H = historyFixtures();
for (const f of H.histories) {
  const pk = directoryKey(H.directories, f.directory);
  const reencoded = encodeHistoryProof(decodeHistoryProof(b64(f.proof)));
  for (const [i, bytes] of [reencoded, ...mutations(reencoded, 6)].entries()) {
    const expect = verdict(() =>
      keyHistoryVerify(
        pk,
        hexToBytes(f.root_hash),
        BigInt(f.epoch),
        hexToBytes(f.username),
        decodeHistoryProof(bytes),
        historyParams(f),
      ),
    );
    checks.push({
      kind: 'history',
      id: `history-${f.directory}-${f.username_utf8}-${f.note}-${i}`,
      expect,
      vrf_public_key: bytesToHex(pk),
      root_hash: f.root_hash,
      epoch: f.epoch,
      username: f.username,
      params: f.params,
      allow_missing_values: f.allow_missing_values,
      proof: base64(bytes),
    });
  }
}

// Audit proofs.
const A = auditFixtures();
for (const f of A.audits) {
  const reencoded = encodeAppendOnlyProof(decodeAppendOnlyProof(b64(f.proof)));
  for (const [i, bytes] of [reencoded, ...mutations(reencoded, 12)].entries()) {
    checks.push({
      kind: 'audit',
      id: `audit-${f.directory}-${f.start_epoch}-${f.end_epoch}-${i}`,
      expect: verdict(() => auditVerify(f.root_hashes.map(hexToBytes), decodeAppendOnlyProof(bytes))),
      root_hashes: f.root_hashes,
      proof: base64(bytes),
    });
  }
}

// Proofs made entirely by keyfleet (a reference directory built from the sdk's pieces); also
// committed as fixtures/keyfleet-made.json, which the sdk tests reproduce byte for byte.
const made = keyfleetMadeChecks();
checks.push(...made);
if (process.argv.includes('--write-fixture')) {
  const path = new URL('./fixtures/keyfleet-made.json', import.meta.url);
  writeFileSync(path, `${JSON.stringify({ checks: made }, null, 1)}\n`);
  console.log(`wrote ${made.length} checks to ${path.pathname}`);
}

const out = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? '/tmp/keyfleet-checks.json';
writeFileSync(out, `${JSON.stringify({ checks }, null, 1)}\n`);
const counts = checks.reduce<Record<string, number>>((a, c) => {
  a[`${c.kind}/${c.expect}`] = (a[`${c.kind}/${c.expect}`] ?? 0) + 1;
  return a;
}, {});
console.log(`wrote ${checks.length} checks to ${out}: ${JSON.stringify(counts)}`);
