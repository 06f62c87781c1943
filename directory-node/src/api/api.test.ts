import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { hexToBytes } from '@keyfleet/sdk/akd/bytes';
import { decodeHistoryProof, decodeLookupProof } from '@keyfleet/sdk/akd/codec';
import { keyHistoryVerify, lookupVerify } from '@keyfleet/sdk/akd/verify';
import { verifyEpochHeadSignature } from '@keyfleet/sdk/directory/epoch-head';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.ts';
import { FilesystemAuditStorage } from '../publisher/audit-storage.ts';
import { buildEpoch } from '../publisher/epoch-builder.ts';
import { DirectoryHarness } from '../testing/directory-harness.ts';
import { createApp } from './app.ts';
import { changesRouter } from './changes.ts';
import { readerRouter } from './reader.ts';

const h = new DirectoryHarness(new Uint8Array(32).fill(42), 'api-test');
const audit = new FilesystemAuditStorage(join(h.dir, 'audit'));
const metrics = createMetrics();
let server: Server;
let base: string;

const enc = new TextEncoder();
const post = (body: unknown, type = 'application/json') =>
  fetch(`${base}/v1/changes`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const get = (path: string) => fetch(`${base}${path}`);
type Info = { vrfPublicKey: string; signingPublicKey: string };
type ProofRes = { epoch: EpochHeadJson; proof: string; params?: unknown };
type AuditRes = { blobs: { name: string; rootHash: string; proof: string }[] };
const getJson = async <T>(path: string): Promise<T> => (await (await get(path)).json()) as T;

beforeAll(async () => {
  const app = createApp({
    routers: [
      changesRouter({ storage: h.storage, maxQueueDepth: 1000, metrics }),
      readerRouter({
        namespace: 'api-test',
        storage: h.storage,
        audit,
        hasher: h.ctx.hasher,
        vrf: h.ctx.vrf,
        signingPublicKey: h.ctx.signing.publicKey,
        metrics,
      }),
    ],
    registry: metrics.registry,
    notReadyReason: () => undefined,
    log: () => {},
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  h.close();
});

async function publishQueued() {
  const built = await buildEpoch(h.storage, h.ctx, await h.storage.pending(1000));
  await h.storage.commitEpoch(built.commit!);
  const r = built.commit!.record;
  await audit.put(r.epoch, r.previousRootHash, r.rootHash, r.auditBlob);
}

describe('directory HTTP API', () => {
  it('queues changes idempotently and serves proofs that the sdk verifies', async () => {
    expect((await get('/v1/epochs/latest')).status).toBe(404);
    const v1 = Buffer.from('key-one').toString('base64url');
    const first = await post({ username: 'alice', value: v1, requestId: 'a-1' });
    expect(first.status).toBe(202);
    expect((await post({ username: 'alice', value: v1, requestId: 'a-1' })).status).toBe(200);
    const reused = await post({
      username: 'alice',
      value: Buffer.from('x').toString('base64url'),
      requestId: 'a-1',
    });
    expect(reused.status).toBe(409);
    await post({ username: 'bob', value: Buffer.from('bob-key').toString('base64url'), requestId: 'b-1' });
    expect(await getJson('/v1/changes/pending')).toEqual({ pending: 2 });
    await publishQueued();
    expect(await getJson('/v1/changes/pending')).toEqual({ pending: 0 });
    await post({ username: 'alice', value: Buffer.from('key-two').toString('base64url'), requestId: 'a-2' });
    await publishQueued();

    const info = await getJson<Info>('/v1/info');
    const headRes = await get('/v1/epochs/latest');
    const head = (await headRes.json()) as EpochHeadJson;
    expect(head.epoch).toBe(2);
    verifyEpochHeadSignature(
      Buffer.from(head.head, 'base64url'),
      Buffer.from(head.signature, 'base64url'),
      hexToBytes(info.signingPublicKey),
    );

    const lookup = await getJson<ProofRes>('/v1/lookup?username=alice');
    expect(lookup.epoch.rootHash).toBe(head.rootHash);
    const result = lookupVerify(
      hexToBytes(info.vrfPublicKey),
      hexToBytes(head.rootHash),
      BigInt(head.epoch),
      enc.encode('alice'),
      decodeLookupProof(Buffer.from(lookup.proof, 'base64url')),
    );
    expect(new TextDecoder().decode(result.value)).toBe('key-two');
    expect(result.version).toBe(2n);

    // Served proofs are tamper-evident: sampled single-byte mutations never verify.
    const proofBytes = Buffer.from(lookup.proof, 'base64url');
    for (let i = 0; i < proofBytes.length; i += 23) {
      const mutated = Uint8Array.from(proofBytes);
      mutated[i]! ^= 1 << (i % 8);
      expect(
        () =>
          lookupVerify(
            hexToBytes(info.vrfPublicKey),
            hexToBytes(head.rootHash),
            BigInt(head.epoch),
            enc.encode('alice'),
            decodeLookupProof(mutated),
          ),
        `byte ${i}`,
      ).toThrow();
    }

    const history = await getJson<ProofRes>('/v1/history?username=alice');
    const versions = keyHistoryVerify(
      hexToBytes(info.vrfPublicKey),
      hexToBytes(head.rootHash),
      BigInt(head.epoch),
      enc.encode('alice'),
      decodeHistoryProof(Buffer.from(history.proof, 'base64url')),
    );
    expect(versions.map((x) => new TextDecoder().decode(x.value))).toEqual(['key-two', 'key-one']);
    const recent = await getJson<ProofRes>('/v1/history?username=alice&mostRecent=1');
    expect(recent.params).toEqual({ kind: 'most-recent', n: 1 });

    const auditRes = await getJson<AuditRes>('/v1/audit/2');
    expect(auditRes.blobs).toHaveLength(1);
    expect(auditRes.blobs[0]!.rootHash).toBe(head.rootHash);
    const raw = await get(`/audit/${auditRes.blobs[0]!.name}`);
    expect(Buffer.from(await raw.arrayBuffer()).toString('base64url')).toBe(auditRes.blobs[0]!.proof);

    expect((await get('/v1/lookup?username=carol')).status).toBe(404);
    expect((await get('/v1/epochs/3')).status).toBe(404);
    expect((await get('/v1/audit/3')).status).toBe(404);
    const m = await (await get('/metrics')).text();
    expect(m).toMatch(/keyfleet_directory_proofs_served_total\{kind="lookup"\} 1/);
  });

  it.each([
    ['not JSON', '{', 400],
    ['an array', '[]', 400],
    ['a missing username', JSON.stringify({ value: 'AA', requestId: 'x' }), 400],
    ['an extra field', JSON.stringify({ username: 'a', value: 'AA', requestId: 'x', extra: 1 }), 400],
    ['padded base64', JSON.stringify({ username: 'a', value: 'AA==', requestId: 'x' }), 400],
    ['an oversize value', JSON.stringify({ username: 'a', value: 'A'.repeat(6000), requestId: 'x' }), 400],
    ['an oversize body', JSON.stringify({ username: 'a'.repeat(20_000), value: 'AA', requestId: 'x' }), 413],
    ['a bad request id', JSON.stringify({ username: 'a', value: 'AA', requestId: 'a b' }), 400],
  ])('rejects a change with %s', async (_, body, status) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { code: unknown; message: unknown } };
    expect(typeof json.error.code).toBe('string');
    expect(typeof json.error.message).toBe('string');
  });

  it('answers arbitrary change bodies and query strings with 2xx/4xx JSON, never 5xx', async () => {
    const jsonValue = fc.jsonValue({ maxDepth: 3 });
    const body = fc.oneof(
      fc.record({
        username: fc.oneof(fc.string(), jsonValue),
        value: fc.oneof(fc.base64String(), jsonValue),
        requestId: fc.oneof(fc.string(), jsonValue),
      }),
      jsonValue,
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await post(JSON.stringify(b));
        expect(res.status < 300 || (res.status >= 400 && res.status < 500)).toBe(true);
        await res.json();
      }),
      { numRuns: 60 },
    );
    const paths = fc.oneof(
      fc.string().map((s) => `/v1/lookup?username=${encodeURIComponent(s)}`),
      fc.string().map((s) => `/v1/history?username=a&mostRecent=${encodeURIComponent(s)}`),
      fc.string().map((s) => `/v1/epochs/${encodeURIComponent(s)}`),
      fc.string().map((s) => `/v1/audit/${encodeURIComponent(s)}`),
      fc.string().map((s) => `/v1/lookup?${encodeURIComponent(s)}=${encodeURIComponent(s)}&username=x`),
    );
    await fc.assert(
      fc.asyncProperty(paths, async (p) => {
        const res = await get(p);
        expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true);
        await res.json();
      }),
      { numRuns: 100 },
    );
  });
});
