// directory-node as real processes on loopback: publisher, reader and witness end to end,
// a second writer refused by the lock, and a publisher killed (SIGKILL) at every step of an
// epoch leaving either the old or the new epoch, never a mix.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHistoryProof, decodeLookupProof } from '@keyfleet/sdk/akd/codec';
import { ROOT_LABEL } from '@keyfleet/sdk/akd/label';
import { keyHistoryVerify, lookupVerify } from '@keyfleet/sdk/akd/verify';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadVrfKeys, parseKeyBytes, signingKeys } from '../../../directory-node/src/keys.ts';
import { lookupProof } from '../../../directory-node/src/proofs/lookup.ts';
import { SqliteStorage } from '../../../directory-node/src/storage/sqlite.ts';
import { whatsappV1Hasher } from '../../../directory-node/src/tree/hasher.ts';
import { verifyCountersignature } from '../../../directory-node/src/witness/countersignature.ts';
import { HttpDirectorySource } from '../../../directory-node/src/witness/source.ts';
import { WitnessState } from '../../../directory-node/src/witness/state.ts';
import { Witness } from '../../../directory-node/src/witness/witness.ts';
import {
  type Child,
  CRASH_PUBLISHER,
  json,
  MAIN,
  postChange,
  startChild,
  stopChild,
  waitFor,
  writeKeys,
} from './harness.ts';

const enc = new TextEncoder();
const NS = 'it-directory';
const children: Child[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kf-it-dir-'));
  dirs.push(d);
  return d;
}

describe('directory-node processes', () => {
  it('publishes epochs, serves verifiable proofs from a separate reader, and a witness countersigns them', async () => {
    const dir = tempDir();
    const keys = writeKeys(dir);
    const common = [
      '--namespace',
      NS,
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--audit-dir',
      join(dir, 'audit'),
    ];
    const publisherArgs = [
      '--mode',
      'publisher',
      ...common,
      '--vrf-key-file',
      keys.vrfKeyFile,
      '--signing-key-file',
      keys.signingKeyFile,
    ];
    const pub = await startChild(
      MAIN,
      [...publisherArgs, '--epoch-interval-ms', '100', '--max-batch-size', '40', '--label-threads', '2'],
      {},
    );
    children.push(pub);
    const pubUrl = `http://127.0.0.1:${pub.port}`;
    for (let i = 0; i < 30; i++) await postChange(pubUrl, `user${i}`, `key-a-${i}`, `a-${i}`);
    for (let i = 0; i < 30; i++) await postChange(pubUrl, `user${i}`, `key-b-${i}`, `b-${i}`);

    const second = startChild(MAIN, publisherArgs, {});
    await expect(second).rejects.toThrow(/locked by writer process/);

    const reader = await startChild(
      MAIN,
      [
        '--mode',
        'reader',
        ...common,
        '--vrf-key-file',
        keys.vrfKeyFile,
        '--signing-public-key-file',
        keys.signingPublicKeyFile,
      ],
      {},
    );
    children.push(reader);
    const readerUrl = `http://127.0.0.1:${reader.port}`;
    const info = (await json<{ vrfPublicKey: string; signingPublicKey: string }>(`${readerUrl}/v1/info`))!;
    await waitFor('all second versions published', async () => {
      const r = await json<{ version: number }>(`${readerUrl}/v1/lookup?username=user29`);
      return r?.version === 2 ? true : undefined;
    });
    const head = (await json<EpochHeadJson>(`${readerUrl}/v1/epochs/latest`))!;
    expect(head.epoch).toBeGreaterThanOrEqual(2);
    for (const u of ['user0', 'user17']) {
      const r = (await json<{ epoch: EpochHeadJson; proof: string }>(
        `${readerUrl}/v1/lookup?username=${u}`,
      ))!;
      const proof = decodeLookupProof(Buffer.from(r.proof, 'base64url'));
      const res = lookupVerify(
        hexToBytes(info.vrfPublicKey),
        hexToBytes(r.epoch.rootHash),
        BigInt(r.epoch.epoch),
        enc.encode(u),
        proof,
      );
      expect(new TextDecoder().decode(res.value)).toBe(`key-b-${u.slice(4)}`);
    }
    const hist = (await json<{ epoch: EpochHeadJson; proof: string }>(
      `${readerUrl}/v1/history?username=user5`,
    ))!;
    const versions = keyHistoryVerify(
      hexToBytes(info.vrfPublicKey),
      hexToBytes(hist.epoch.rootHash),
      BigInt(hist.epoch.epoch),
      enc.encode('user5'),
      decodeHistoryProof(Buffer.from(hist.proof, 'base64url')),
    );
    expect(versions.map((v) => new TextDecoder().decode(v.value))).toEqual(['key-b-5', 'key-a-5']);

    const witness = await startChild(
      MAIN,
      [
        '--mode',
        'witness',
        '--namespace',
        NS,
        '--listen',
        '127.0.0.1:0',
        '--directory-url',
        readerUrl,
        '--publisher-public-key-file',
        keys.signingPublicKeyFile,
        '--witness-key-file',
        keys.witnessKeyFile,
        '--state-dir',
        join(dir, 'witness'),
        '--poll-interval-ms',
        '100',
      ],
      {},
    );
    children.push(witness);
    const wUrl = `http://127.0.0.1:${witness.port}`;
    const latest = (await json<EpochHeadJson>(`${readerUrl}/v1/epochs/latest`))!;
    await waitFor('witness to catch up', async () => {
      const ns = await json<{ lastVerifiedEpoch: number }>(`${wUrl}/namespaces/${NS}`);
      return ns && ns.lastVerifiedEpoch >= latest.epoch ? true : undefined;
    });
    const wInfo = (await json<{ publicKey: string }>(`${wUrl}/info`))!;
    const audit = (await json<{ message: string; signature: string; digest: string }>(
      `${wUrl}/namespaces/${NS}/audits/${latest.epoch}`,
    ))!;
    const msg = verifyCountersignature(
      Buffer.from(audit.message, 'base64url'),
      Buffer.from(audit.signature, 'base64url'),
      hexToBytes(wInfo.publicKey),
    );
    expect(msg.epoch).toBe(latest.epoch);
    expect(audit.digest).toBe(latest.rootHash);
    const metrics = await (await fetch(`${pubUrl}/metrics`)).text();
    expect(metrics).toMatch(/keyfleet_directory_epoch \d+/);
    expect(metrics).toMatch(/keyfleet_directory_publish_duration_seconds_count \d+/);
  });

  it.each(['nodes', 'values', 'epoch', 'queue', 'after-commit'])(
    'a publisher killed at step "%s" of an epoch leaves the old or the new epoch, then recovers',
    async (step) => {
      const dir = tempDir();
      const keys = writeKeys(dir);
      const env = {
        KEYFLEET_NAMESPACE: NS,
        KEYFLEET_DATA_DIR: join(dir, 'data'),
        KEYFLEET_AUDIT_DIR: join(dir, 'audit'),
        KEYFLEET_VRF_KEY_FILE: keys.vrfKeyFile,
        KEYFLEET_SIGNING_KEY_FILE: keys.signingKeyFile,
      };
      const dbPath = join(dir, 'data', 'directory.db');
      const first = await startChild(CRASH_PUBLISHER, [], { ...env, CRASH_AT: 'never' });
      const url1 = `http://127.0.0.1:${first.port}`;
      for (let i = 0; i < 10; i++) await postChange(url1, `user${i}`, `v1-${i}`, `one-${i}`);
      await waitFor('queue drained', async () =>
        (await fetch(`${url1}/v1/lookup?username=user9`)).ok ? true : undefined,
      );
      const before = (await json<EpochHeadJson>(`${url1}/v1/epochs/latest`))!;
      await stopChild(first);

      // Queue the next epoch's changes (updates and new users), then let a publisher die in it.
      const queueing = new SqliteStorage(dbPath);
      for (let i = 5; i < 15; i++) {
        await queueing.enqueue(
          { requestId: `two-${i}`, username: enc.encode(`user${i}`), value: enc.encode(`v2-${i}`) },
          1000,
        );
      }
      queueing.close();
      const crashing = await startChild(CRASH_PUBLISHER, [], { ...env, CRASH_AT: step });
      await crashing.exited;
      expect(crashing.proc.signalCode).toBe('SIGKILL');

      const vrf = loadVrfKeys(keys.vrfKeyFile);
      const after = new SqliteStorage(dbPath);
      const committed = step === 'after-commit';
      await after.read(async (snap) => {
        const latest = (await snap.latestEpoch())!;
        expect(latest.epoch).toBe(before.epoch + (committed ? 1 : 0));
        if (!committed) expect(Buffer.from(latest.rootHash).toString('hex')).toBe(before.rootHash);
        const [root] = await snap.getNodes([ROOT_LABEL]);
        expect(whatsappV1Hasher.rootHash(root!.value)).toEqual(latest.rootHash);
        expect(root!.lastEpoch).toBe(latest.epoch);
        for (let i = 0; i < 15; i++) {
          const username = enc.encode(`user${i}`);
          const states = await snap.latestValueStates([username]);
          if (!committed && i >= 10) {
            expect(states.size).toBe(0);
            continue;
          }
          const { proof } = await lookupProof(snap, whatsappV1Hasher, vrf, username);
          const result = lookupVerify(vrf.publicKey, latest.rootHash, BigInt(latest.epoch), username, proof);
          const expected = committed && i >= 5 ? `v2-${i}` : `v1-${i}`;
          expect(new TextDecoder().decode(result.value)).toBe(expected);
        }
      });
      expect(await after.queueDepth()).toBe(committed ? 0 : 10);
      after.close();

      // A restarted publisher finishes the epoch (or stores the missing blob) and a witness
      // verifies the whole history.
      const again = await startChild(CRASH_PUBLISHER, [], { ...env, CRASH_AT: 'never' });
      children.push(again);
      const url = `http://127.0.0.1:${again.port}`;
      const next = before.epoch + 1;
      await waitFor('the next epoch and its audit blob', async () =>
        (await fetch(`${url}/v1/audit/${next}`)).ok ? true : undefined,
      );
      const dirState = mkdtempSync(join(dir, 'w-'));
      const state = new WitnessState(join(dirState, 'w.db'));
      const witness = new Witness({
        namespace: NS,
        publisherKey: parseKeyBytes(readFileSync(keys.signingPublicKeyFile), 'key'),
        signing: signingKeys(parseKeyBytes(readFileSync(keys.witnessKeyFile), 'key')),
        source: new HttpDirectorySource(url),
        state,
        now: Date.now,
      });
      expect(await witness.catchUp()).toEqual({ kind: 'idle', epoch: next });
      state.close();
    },
  );
});
