import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ed25519 } from '@noble/curves/ed25519.js';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../types.ts';
import { CHANNEL_MESSAGES, CHANNEL_SNAPSHOT, type Channel, encodeBody, encodeEnvelope } from './codec.ts';
import {
  type DropReason,
  envelopeDigest,
  HttpTransport,
  RAFT_MESSAGES_PATH,
  RAFT_SNAPSHOT_PATH,
  RAFT_STREAM_PATH,
} from './http-transport.ts';
import { encodeFrame } from './stream-frames.ts';
import { Ed25519TestAuthenticator, testSecretKey } from './test-authenticator.ts';

const SEED = 'transport-test';
const MEMBERS = ['n1', 'n2', 'n3'];

interface Member {
  id: string;
  transport: HttpTransport;
  received: Message[];
  /** How many messages each frame or request carried, in arrival order. */
  frames: number[];
  drops: Map<DropReason, number>;
  server: Server;
  url: string;
}

const servers: Server[] = [];
/** HTTP requests each member's server received. */
const requests = new Map<string, number>();
const transports: HttpTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  requests.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function cluster(options: { streamFirstFrameDeadlineMs?: number } = {}): Promise<Map<string, Member>> {
  const apps = new Map<string, { app: express.Express; server: Server; url: string }>();
  for (const id of MEMBERS) {
    const app = express();
    app.use((_req, _res, next) => {
      requests.set(id, (requests.get(id) ?? 0) + 1);
      next();
    });
    apps.set(id, { app, ...(await listen(app)) });
  }
  const peers = new Map([...apps].map(([id, a]) => [id, a.url]));
  const out = new Map<string, Member>();
  for (const [id, a] of apps) {
    const received: Message[] = [];
    const frames: number[] = [];
    const drops = new Map<DropReason, number>();
    const transport = new HttpTransport({
      id,
      peers,
      authenticator: Ed25519TestAuthenticator.fromSeed(SEED, id, MEMBERS),
      deliver: (ms) => {
        frames.push(ms.length);
        received.push(...ms);
      },
      onDrop: (reason, n) => drops.set(reason, (drops.get(reason) ?? 0) + n),
      ...options,
    });
    transports.push(transport);
    a.app.use(transport.router);
    out.set(id, { id, transport, received, frames, drops, server: a.server, url: a.url });
  }
  return out;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const vote = (from: string, to: string, term: number): Message => ({
  type: 'vote',
  from,
  to,
  term,
  index: 1000,
  logTerm: term - 1,
});

async function post(url: string, path: string, body: Uint8Array) {
  const res = await fetch(url + path, { method: 'POST', body });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as { error: { code: string } } };
}

describe('HttpTransport', () => {
  it('delivers batches in order and streams a large snapshot', async () => {
    const c = await cluster();
    const n1 = c.get('n1')!;
    const appends: Message[] = [];
    for (let i = 1; i <= 300; i++) {
      appends.push({
        type: 'append',
        from: 'n1',
        to: 'n2',
        term: 2,
        index: i - 1,
        logTerm: 2,
        commit: 0,
        entries: [{ index: i, term: 2, type: 'normal', data: new Uint8Array(100).fill(i & 0xff) }],
      });
    }
    n1.transport.send(appends);
    const snapshot: Message = {
      type: 'snapshot',
      from: 'n1',
      to: 'n3',
      term: 2,
      snapshot: {
        metadata: { index: 500, term: 2, membership: { voters: MEMBERS, learners: [] } },
        data: new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff),
      },
    };
    n1.transport.send([snapshot]);
    await until(() => c.get('n2')!.received.length === 300 && c.get('n3')!.received.length === 1);
    expect(c.get('n2')!.received).toEqual(appends);
    // Queued while a request was in flight, the appends were coalesced into few envelopes.
    expect(requests.get('n2')!).toBeLessThan(100);
    // The 3 MiB compared as one buffer: element-wise deep equality takes seconds on a loaded machine.
    const [got] = c.get('n3')!.received;
    expect(Buffer.from(got!.snapshot!.data).equals(snapshot.snapshot!.data)).toBe(true);
    expect({ ...got, snapshot: { ...got!.snapshot, data: null } }).toEqual({
      ...snapshot,
      snapshot: { ...snapshot.snapshot, data: null },
    });
    expect(c.get('n3')!.received).toHaveLength(1);
    expect(c.get('n2')!.drops.size + c.get('n3')!.drops.size).toBe(0);
  });

  it('a forged peer that knows every URL cannot get a vote, append or snapshot accepted', async () => {
    const c = await cluster();
    const n2 = c.get('n2')!;
    const mallory = ed25519.utils.randomSecretKey();
    const now = () => Date.now() * 1000;
    const forged = (
      from: string,
      to: string,
      ms: Message[],
      key: Uint8Array,
      channel: Channel = CHANNEL_MESSAGES,
    ) => {
      const env = encodeEnvelope({ channel, from, to, counter: now() }, ms);
      return encodeBody(ed25519.sign(envelopeDigest(env), key), env);
    };
    const expectDropped = async (path: string, body: Uint8Array, code: DropReason, status: number) => {
      const res = await post(n2.url, path, body);
      expect(res.status, code).toBe(status);
      expect(res.json.error.code).toBe(code);
    };

    // Impersonating a configured member without its key.
    await expectDropped(
      RAFT_MESSAGES_PATH,
      forged('n1', 'n2', [vote('n1', 'n2', 99)], mallory),
      'bad-signature',
      403,
    );
    const append: Message = {
      type: 'append',
      from: 'n3',
      to: 'n2',
      term: 99,
      index: 0,
      logTerm: 0,
      commit: 1,
      entries: [{ index: 1, term: 99, type: 'normal', data: new Uint8Array([6, 6, 6]) }],
    };
    await expectDropped(RAFT_MESSAGES_PATH, forged('n3', 'n2', [append], mallory), 'bad-signature', 403);
    const snap: Message = {
      type: 'snapshot',
      from: 'n1',
      to: 'n2',
      term: 99,
      snapshot: {
        metadata: { index: 9, term: 99, membership: { voters: ['n1'], learners: [] } },
        data: new Uint8Array(8),
      },
    };
    await expectDropped(
      RAFT_SNAPSHOT_PATH,
      forged('n1', 'n2', [snap], mallory, CHANNEL_SNAPSHOT),
      'bad-signature',
      403,
    );
    // Signing honestly as itself: not a configured member.
    await expectDropped(
      RAFT_MESSAGES_PATH,
      forged('mallory', 'n2', [vote('mallory', 'n2', 99)], mallory),
      'unknown-member',
      403,
    );
    // A member's test key cannot be used to speak for another member.
    const n3key = testSecretKey(SEED, 'n3');
    await expectDropped(
      RAFT_MESSAGES_PATH,
      forged('n1', 'n2', [vote('n1', 'n2', 99)], n3key),
      'bad-signature',
      403,
    );
    // Claiming to be the recipient itself.
    await expectDropped(
      RAFT_MESSAGES_PATH,
      forged('n2', 'n2', [vote('n2', 'n2', 99)], mallory),
      'unknown-member',
      403,
    );

    // Capture a genuine envelope n1 -> n3, then replay it at n3 and re-address it to n2.
    // The tap knows no message stream (404, like an older member), so n1 falls back to one POST per
    // envelope; what n1 wrote on the refused stream is lost, so it sends until one gets through.
    const captured: Uint8Array[] = [];
    const tap = express();
    tap.post(RAFT_STREAM_PATH, (_req, res) => res.status(404).end());
    tap.use(express.raw({ type: () => true }), (req, res) => {
      captured.push(new Uint8Array(req.body as Buffer));
      res.status(204).end();
    });
    const { url: tapUrl } = await listen(tap);
    const n1 = c.get('n1')!;
    n1.transport.setPeer('n3', tapUrl);
    for (let term = 5; captured.length === 0; term++) {
      n1.transport.send([vote('n1', 'n3', term)]);
      await until(() => captured.length > 0, 200).catch(() => undefined);
    }
    const genuine = captured[0]!;
    expect((await post(c.get('n3')!.url, RAFT_MESSAGES_PATH, genuine)).status).toBe(204);
    await expectDropped(RAFT_MESSAGES_PATH, genuine, 'wrong-recipient', 403);
    const res = await post(c.get('n3')!.url, RAFT_MESSAGES_PATH, genuine);
    expect([res.status, res.json.error.code]).toEqual([409, 'replay']);
    // Flipping the recipient inside the signed bytes breaks the signature.
    const retargeted = new Uint8Array(genuine);
    const at = Buffer.from(retargeted).indexOf(Buffer.from('\x02\x00n3'));
    retargeted[at + 3] = '2'.charCodeAt(0);
    await expectDropped(RAFT_MESSAGES_PATH, retargeted, 'bad-signature', 403);

    // Garbage and oversize bodies.
    await expectDropped(RAFT_MESSAGES_PATH, new Uint8Array([0, 64, 1, 2, 3]), 'malformed', 400);
    await expectDropped(RAFT_MESSAGES_PATH, new Uint8Array(5 * 1024 * 1024), 'too-large', 413);

    expect(n2.received.filter((m) => m.from !== 'n1' || m.term === 99)).toEqual([]);
    expect(n2.received).toEqual([]);
    expect(Object.fromEntries(n2.drops)).toEqual({
      'bad-signature': 5,
      'unknown-member': 2,
      'wrong-recipient': 1,
      malformed: 1,
      'too-large': 1,
    });
  });

  it('on a message stream, verifies every frame and stops reading at the first forged one', async () => {
    const c = await cluster();
    const n2 = c.get('n2')!;
    const sign = (m: Message, key: Uint8Array) => {
      const env = encodeEnvelope(
        { channel: CHANNEL_MESSAGES, from: m.from, to: m.to, counter: Date.now() * 1000 + m.term },
        [m],
      );
      return encodeFrame(encodeBody(ed25519.sign(envelopeDigest(env), key), env));
    };
    const n1key = testSecretKey(SEED, 'n1');
    const frames = [
      sign(vote('n1', 'n2', 7), n1key),
      sign(vote('n1', 'n2', 8), ed25519.utils.randomSecretKey()),
      sign(vote('n1', 'n2', 9), n1key),
    ];
    const res = await post(n2.url, RAFT_STREAM_PATH, Buffer.concat(frames));
    expect([res.status, res.json.error.code]).toEqual([403, 'bad-signature']);
    expect(n2.received.map((m) => m.term)).toEqual([7]);
    // A frame longer than a messages body may be is refused from its length alone.
    const big = new Uint8Array(8);
    new DataView(big.buffer).setUint32(0, 5 * 1024 * 1024);
    const tooLarge = await post(n2.url, RAFT_STREAM_PATH, big);
    expect([tooLarge.status, tooLarge.json.error.code]).toEqual([413, 'too-large']);
    expect(Object.fromEntries(n2.drops)).toEqual({ 'bad-signature': 1, 'too-large': 1 });
  });

  it('cuts a message stream that sends no verified frame in time, so silence holds no stream slot', async () => {
    const c = await cluster({ streamFirstFrameDeadlineMs: 300 });
    const n2 = c.get('n2')!;
    const { request } = await import('node:http');
    const silent = request({
      host: '127.0.0.1',
      port: Number(new URL(n2.url).port),
      method: 'POST',
      path: RAFT_STREAM_PATH,
      headers: { 'transfer-encoding': 'chunked' },
    });
    const cut = new Promise<string>((resolve) => {
      silent.on('error', (e) => resolve(e.message));
      silent.on('response', (res) => resolve(`answered ${res.statusCode}`));
    });
    silent.write(new Uint8Array([0, 0])); // half a frame header, then nothing
    expect(await cut).toMatch(/socket hang up|ECONNRESET/);
    expect(n2.drops.get('malformed')).toBe(1);
    // A member's stream is not cut: its first frame verifies at once, later silence is fine.
    const n1 = c.get('n1')!;
    n1.transport.send([vote('n1', 'n2', 3)]);
    await until(() => n2.received.length === 1);
    await new Promise((r) => setTimeout(r, 600));
    n1.transport.send([vote('n1', 'n2', 4)]);
    await until(() => n2.received.length === 2);
    expect(n2.drops.get('malformed')).toBe(1);
    expect(n1.drops.size).toBe(0);
  });

  it('reads at most two snapshot bodies at once (they are buffered before authentication)', async () => {
    const c = await cluster();
    const n2 = c.get('n2')!;
    const { request } = await import('node:http');
    const port = Number(new URL(n2.url).port);
    // Two senders that start a large body and stall hold both slots...
    const stalled = [0, 1].map(() => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: RAFT_SNAPSHOT_PATH,
        headers: { 'content-length': 8 * 1024 * 1024 },
      });
      req.on('error', () => {});
      req.write(new Uint8Array(1024));
      return req;
    });
    await until(() => false, 200).catch(() => undefined);
    // ...so a third is refused without its body being read.
    const res = await post(n2.url, RAFT_SNAPSHOT_PATH, new Uint8Array(100));
    expect([res.status, res.json.error.code]).toEqual([429, 'busy']);
    for (const r of stalled) r.destroy();
    await until(() => false, 100).catch(() => undefined);
    const after = await post(n2.url, RAFT_SNAPSHOT_PATH, new Uint8Array([0, 64, 1]));
    expect(after.json.error.code).toBe('malformed');
  });

  it('drops traffic to and from blocked members (test partitions) and counts it', async () => {
    const c = await cluster();
    const n1 = c.get('n1')!;
    const n2 = c.get('n2')!;
    n2.transport.setBlocked(['n1']);
    n1.transport.send([vote('n1', 'n2', 3)]);
    await until(() => (n2.drops.get('partitioned') ?? 0) === 1);
    n1.transport.setBlocked(['n2']);
    n1.transport.send([vote('n1', 'n2', 3)]);
    expect(n1.drops.get('partitioned')).toBe(1);
    n1.transport.setBlocked([]);
    n2.transport.setBlocked([]);
    n1.transport.send([vote('n1', 'n2', 4)]);
    await until(() => n2.received.length === 1);
    expect(n2.received[0]!.term).toBe(4);
  });

  it('sends what one turn of the event loop queued for a peer as one frame', async () => {
    const c = await cluster();
    const [n1, n2] = [c.get('n1')!, c.get('n2')!];
    n1.transport.send([vote('n1', 'n2', 3)]);
    // Two Readies apart: the node awaits its storage and applies in between.
    for (let i = 0; i < 20; i++) await Promise.resolve();
    n1.transport.send([vote('n1', 'n2', 4)]);
    await until(() => n2.received.length === 2);
    expect(n2.frames).toEqual([2]);
    expect(n2.received.map((m) => m.term)).toEqual([3, 4]);
  });

  it('backs off an unreachable peer and counts what it could not send', async () => {
    const c = await cluster();
    const n1 = c.get('n1')!;
    n1.transport.setPeer('n2', 'http://127.0.0.1:1');
    n1.transport.send([vote('n1', 'n2', 3)]);
    await until(() => (n1.drops.get('send-failed') ?? 0) >= 1);
    n1.transport.setPeer('n2', c.get('n2')!.url);
    n1.transport.send([vote('n1', 'n2', 4)]);
    await until(() => c.get('n2')!.received.length === 1);
  });
});
