// Writes proofs made by directory-node (publisher + reader code, SQLite) as checks for the akd
// crate's verifier (test/interop: `keyfleet-akd-interop verify FILE`), so that akd itself
// can confirm it accepts what we serve. Not run by CI (it needs the Rust tool built):
//
//   npm exec -- node test/integration/directory/akd-checks.ts OUT.json [--epochs N]
//   test/interop/target/release/keyfleet-akd-interop verify OUT.json
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeHistoryProof, encodeLookupProof } from '@keyfleet/sdk/akd/codec';
import type { HistoryParams } from '@keyfleet/sdk/akd/types';
import { bytesToHex } from '@noble/hashes/utils.js';
import { historyProof } from '../../../directory-node/src/proofs/history.ts';
import { lookupProof } from '../../../directory-node/src/proofs/lookup.ts';
import { DirectoryHarness } from '../../../directory-node/src/testing/directory-harness.ts';

const { values, positionals } = parseArgs({
  options: { epochs: { type: 'string', default: '12' } },
  allowPositionals: true,
});
const out = positionals[0];
if (out === undefined) throw new Error('usage: akd-checks.ts OUT.json [--epochs N]');
const epochs = Number(values.epochs);
const h = new DirectoryHarness(new Uint8Array(32).fill(0x42), 'akd-checks');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const enc = new TextEncoder();
const checks: Record<string, unknown>[] = [];
const vrfPk = bytesToHex(h.ctx.vrf.publicKey);

for (let e = 1; e <= epochs; e++) {
  // New users every epoch, and user k re-publishes every k-th epoch: many versions and markers.
  const updates: [string, string][] = Array.from({ length: 20 }, (_, i) => [
    `new-${e}-${i}`,
    `key-${e}-${i}`,
  ]);
  for (const k of [1, 2, 3, 5]) if (e % k === 0) updates.push([`user-${k}`, `user-${k}-v${e}`]);
  const record = (await h.publish(updates))!;
  checks.push({
    id: `audit blob ${e}`,
    kind: 'audit_blob',
    data: b64(record.auditBlob),
    previous_hash: bytesToHex(record.previousRootHash),
    current_hash: bytesToHex(record.rootHash),
    end_epoch: e,
  });
  const users = [...[1, 2, 3, 5].map((k) => `user-${k}`), `new-${e}-0`, `new-1-7`];
  await h.storage.read(async (snap) => {
    for (const u of users) {
      const username = enc.encode(u);
      if ((await snap.latestValueStates([username])).size === 0) continue;
      const { proof } = await lookupProof(snap, h.ctx.hasher, h.ctx.vrf, username);
      checks.push({
        id: `lookup ${u} @${e}`,
        kind: 'lookup',
        vrf_public_key: vrfPk,
        root_hash: bytesToHex(record.rootHash),
        epoch: e,
        username: bytesToHex(username),
        proof: b64(encodeLookupProof(proof)),
      });
      for (const params of [{ kind: 'complete' }, { kind: 'most-recent', n: 2 }] as HistoryParams[]) {
        const { proof: hp } = await historyProof(snap, h.ctx.hasher, h.ctx.vrf, username, params);
        checks.push({
          id: `history ${u} ${params.kind} @${e}`,
          kind: 'history',
          vrf_public_key: vrfPk,
          root_hash: bytesToHex(record.rootHash),
          epoch: e,
          username: bytesToHex(username),
          params: params.kind === 'complete' ? { kind: 'complete' } : { kind: 'most_recent', n: params.n },
          proof: b64(encodeHistoryProof(hp)),
        });
      }
    }
  });
}
writeFileSync(out, JSON.stringify({ checks }, null, 1));
console.log(`wrote ${checks.length} checks to ${out}`);
h.close();
