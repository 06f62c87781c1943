// keyfleet lookup|history|audit in-process against a loopback server that serves akd-made
// proofs (test/interop/fixtures) the way a directory reader wraps them, under epoch heads
// signed by a test key; then the same responses tampered with, each failing with its reason.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditFixtures, b64, historyFixtures, lookupFixtures } from '../../../test/interop/load.ts';
import { decodeAppendOnlyProof, encodeSingleAppendOnlyProof } from '../akd/codec.ts';
import { EMPTY_TREE_ROOT_HASH } from '../akd/whatsapp-v1.ts';
import { signEpochHead } from '../directory/epoch-head.ts';
import type { EpochHeadJson } from '../directory/wire.ts';
import { runCli } from './main.ts';

const NS = 'fixtures';
const signingSecret = ed25519.utils.randomSecretKey();
const signingKey = bytesToHex(ed25519.getPublicKey(signingSecret));
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
/** The flags of a --json lookup or history of `user` at the test server. */
const userArgs = (user: string, vrfKey: string) => [
  '--url',
  url,
  '--user',
  user,
  '--signing-key',
  signingKey,
  '--vrf-key',
  vrfKey,
  '--json',
];

function head(
  epoch: number,
  root: string,
  previous = '00'.repeat(32),
  secret = signingSecret,
  namespace = NS,
): EpochHeadJson {
  const signed = signEpochHead(
    {
      namespace,
      epoch,
      rootHash: hexToBytes(root),
      previousRootHash: hexToBytes(previous),
      timestamp: 1_700_000_000_000 + epoch,
    },
    secret,
  );
  return {
    namespace,
    epoch,
    rootHash: root,
    previousRootHash: previous,
    timestamp: 1_700_000_000_000 + epoch,
    head: b64url(signed.head),
    signature: b64url(signed.signature),
  };
}

/** What the server answers: path (with query) -> JSON body, or a raw handler. */
type Route = { status?: number; body?: unknown; raw?: (res: import('node:http').ServerResponse) => void };
let routes = new Map<string, Route>();
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '');
    if (route?.raw) return route.raw(res);
    if (!route)
      return res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"no"}}');
    res
      .writeHead(route.status ?? 200, { 'content-type': 'application/json' })
      .end(JSON.stringify(route.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  routes = new Map();
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  const text = out.join('\n');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { code, out: text, err: err.join('\n'), json };
}

const lookups = lookupFixtures();
const vrfKeyOf = (name: string) => lookups.directories.find((d) => d.name === name)!.vrf_public_key;

/** Serves a lookup fixture as GET /v1/epochs/latest and GET /v1/lookup. */
function serveLookup(index: number) {
  const f = lookups.lookups[index]!;
  const h = head(f.epoch, f.root_hash);
  const response = { epoch: h, version: f.expected.version, proof: b64url(b64(f.proof)) };
  routes.set('/v1/epochs/latest', { body: h });
  routes.set(`/v1/lookup?username=${encodeURIComponent(f.username_utf8)}`, { body: response });
  const args = userArgs(f.username_utf8, vrfKeyOf(f.directory));
  return { f, h, response, args };
}

function flipBase64url(s: string, at = 0.5): string {
  const bytes = Buffer.from(s, 'base64url');
  bytes[Math.floor(bytes.length * at)]! ^= 0x01;
  return bytes.toString('base64url');
}

describe('keyfleet lookup', () => {
  it.each(lookups.lookups.map((f, i) => [`${f.directory}/${f.username_utf8}@${f.epoch}`, i] as const))(
    'verifies the akd lookup proof %s and prints what it verified',
    async (_name, i) => {
      const { f, args } = serveLookup(i);
      const r = await run('lookup', ...args);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({
        verified: true,
        username: f.username_utf8,
        version: f.expected.version,
        publishedAtEpoch: f.expected.epoch,
      });
      expect(bytesToHex(Buffer.from(r.json.value as string, 'base64url'))).toBe(f.expected.value);
      expect(r.json.head).toMatchObject({ epoch: f.epoch, rootHash: f.root_hash, namespace: NS });
    },
  );

  it('prints for people', async () => {
    const { args, f } = serveLookup(0);
    const r = await run('lookup', ...args.filter((a) => a !== '--json'));
    expect(r.code).toBe(0);
    expect(r.out).toContain('VERIFIED lookup of "alice"');
    expect(r.out).toContain(`root           ${f.root_hash}`);
    expect(r.out).toContain('version        1 (published at epoch 1)');
  });

  const other = ed25519.utils.randomSecretKey();
  const tampered: [string, (s: ReturnType<typeof serveLookup>) => void, RegExp | string, ...string[]][] = [
    [
      'a flipped head signature',
      (s) => (s.h.signature = flipBase64url(s.h.signature)),
      'epoch-head: the latest epoch head: the epoch head signature does not verify',
    ],
    [
      'a head signed by another key',
      (s) => {
        const forged = head(s.f.epoch, s.f.root_hash, undefined, other);
        routes.set('/v1/epochs/latest', { body: forged });
        s.response.epoch = forged;
      },
      'signature does not verify with the directory signing key',
    ],
    [
      'a served root that is not the signed root',
      (s) => (s.h.rootHash = 'ab'.repeat(32)),
      /served rootHash "abab.*" differs from the signed rootHash/,
    ],
    [
      'a flipped byte in the signed head bytes',
      (s) => (s.h.head = flipBase64url(s.h.head, 0.9)),
      'signature does not verify',
    ],
    [
      'a lookup proof with a flipped byte',
      (s) => (s.response.proof = flipBase64url(s.response.proof)),
      /^lookup: /,
    ],
    [
      'a truncated lookup proof',
      (s) => (s.response.proof = s.response.proof.slice(0, 40)),
      /^lookup: .*\[decode\]/,
    ],
    [
      'a version that is not the proven one',
      (s) => (s.response.version = 2),
      'the response says version 2, the proof proves version 1',
    ],
    [
      'a proof at an epoch older than the latest head',
      (s) => routes.set('/v1/epochs/latest', { body: head(s.f.epoch + 1, s.f.root_hash) }),
      'older than the latest signed epoch 2 (a stale or rolled-back answer)',
    ],
    [
      'two different signed heads for one epoch',
      (s) => routes.set('/v1/epochs/latest', { body: head(s.f.epoch, 'cd'.repeat(32)) }),
      /signed two different heads for epoch 1 .*equivocates/,
    ],
    [
      'a head of another namespace',
      () => {},
      'is for namespace "fixtures", not "prod"',
      '--namespace',
      'prod',
    ],
    ['a proof older than --epoch', () => {}, 'older than the required epoch 5', '--epoch', '5'],
    [
      'an extra field in the response',
      (s) => Object.assign(s.response, { note: 1 }),
      'response: lookup response: unexpected field "note"',
    ],
    [
      'non-canonical base64url',
      (s) => (s.response.proof += '='),
      'response: lookup response: proof: not base64url',
    ],
    [
      'a 404 for the user',
      (s) => routes.delete(`/v1/lookup?username=${s.f.username_utf8}`),
      'fetch: the directory says it has no key for "alice" (HTTP 404, not a proof)',
    ],
    [
      'an HTTP 500',
      () =>
        routes.set('/v1/epochs/latest', {
          status: 500,
          body: { error: { code: 'internal', message: 'boom' } },
        }),
      'fetch: GET /v1/epochs/latest: HTTP 500: internal: boom',
    ],
    [
      'a response over the size limit',
      (s) => routes.set('/v1/epochs/latest', { body: { ...s.h, pad: 'x'.repeat(70_000) } }),
      /larger than the 65536 bytes allowed/,
    ],
    [
      'not JSON',
      () => routes.set('/v1/epochs/latest', { raw: (res) => res.writeHead(200).end('<html>') }),
      'response: GET /v1/epochs/latest: the response is not JSON',
    ],
  ];
  it.each(tampered)('fails (exit 1) for %s, saying why', async (_name, tamper, reason, ...extra) => {
    const s = serveLookup(0);
    tamper(s);
    const r = await run('lookup', ...s.args, ...extra);
    expect(r.code).toBe(1);
    expect(r.json.verified).toBe(false);
    const said = `${r.json.check}: ${r.json.reason}`;
    if (typeof reason === 'string') expect(said).toContain(reason);
    else expect(said).toMatch(reason);
    expect(r.err).toContain('NOT VERIFIED');
  });

  it('gives up after --timeout-ms when the directory does not answer', async () => {
    const s = serveLookup(0);
    routes.set('/v1/epochs/latest', { raw: () => {} });
    const r = await run('lookup', ...s.args, '--timeout-ms', '200');
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({
      check: 'fetch',
      reason: 'GET /v1/epochs/latest: no answer within 200 ms',
    });
  });

  it.each([
    [['--user', 'a'], '--url <directory reader URL> is required'],
    [['--url', 'ftp://x', '--user', 'a'], '--url must be http or https'],
    [
      ['--url', 'http://x', '--user', 'a', '--vrf-key', signingKey],
      '--signing-key <hex> or --trust <file> is required',
    ],
    [
      ['--url', 'http://x', '--user', 'a', '--signing-key', signingKey],
      '--vrf-key <hex> or --trust <file> is required',
    ],
    [
      ['--url', 'http://x', '--user', 'a', '--signing-key', '05'.repeat(32), '--vrf-key', signingKey],
      'not an Ed25519 public key',
    ],
    [
      ['--url', 'http://x', '--signing-key', signingKey, '--vrf-key', signingKey],
      '--user <name> is required',
    ],
    [
      [
        '--url',
        'http://x',
        '--user',
        'a',
        '--signing-key',
        signingKey,
        '--vrf-key',
        signingKey,
        '--epoch',
        '-1',
      ],
      '--epoch must be an integer',
    ],
    [
      ['--url', 'http://x', '--user', 'a', '--trust', '/nonexistent/trust.json'],
      'cannot read the trust file',
    ],
  ])('exits 2 for bad usage %j', async (argv, message) => {
    const r = await run('lookup', ...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });
});

describe('keyfleet history', () => {
  const histories = historyFixtures();
  const valid = histories.histories
    .map((f, i) => [f, i] as const)
    .filter(([f]) => f.expect === 'valid' && !f.allow_missing_values);
  function serveHistory(i: number) {
    const f = histories.histories[i]!;
    const h = head(f.epoch, f.root_hash);
    const params =
      f.params.kind === 'complete' ? { kind: 'complete' } : { kind: 'most-recent', n: f.params.n };
    const response = { epoch: h, params, proof: b64url(b64(f.proof)) };
    const query = `username=${encodeURIComponent(f.username_utf8)}${f.params.kind === 'complete' ? '' : `&mostRecent=${f.params.n}`}`;
    routes.set('/v1/epochs/latest', { body: h });
    routes.set(`/v1/history?${query}`, { body: response });
    const vrf = histories.directories.find((d) => d.name === f.directory)!.vrf_public_key;
    const args = userArgs(f.username_utf8, vrf);
    if (f.params.kind === 'most_recent') args.push('--most-recent', String(f.params.n));
    return { f, h, response, args };
  }

  it.each(
    valid.map(
      ([f, i]) => [`${f.directory}/${f.username_utf8}@${f.epoch} ${JSON.stringify(f.params)}`, i] as const,
    ),
  )('verifies the akd history proof %s, every version', async (_name, i) => {
    const { f, args } = serveHistory(i);
    const r = await run('history', ...args);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const versions = r.json.versions as { version: number; publishedAtEpoch: number; value: string }[];
    const expected = f.expected as { epoch: number; version: number; value: string }[];
    expect(
      versions.map((v) => [v.version, v.publishedAtEpoch, bytesToHex(Buffer.from(v.value, 'base64url'))]),
    ).toEqual(expected.map((e) => [e.version, e.epoch, e.value]));
  });

  it('fails for the tombstoned history without allowing missing values, and for tampering', async () => {
    const bad = histories.histories.findIndex((f) => f.expect === 'invalid');
    const r = await run('history', ...serveHistory(bad).args);
    expect(r.code).toBe(1);
    expect(r.json.reason).toContain('value and commitment nonce do not match the leaf');

    const [, i] = valid.find(([f]) => f.params.kind === 'most_recent')!;
    const s = serveHistory(i);
    s.response.params = { kind: 'complete' };
    const params = await run('history', ...s.args);
    expect(params.code).toBe(1);
    expect(params.json.reason).toMatch(
      /^asked for \{"kind":"most-recent","n":3\} history, the directory answered for \{"kind":"complete"\}/,
    );

    const t = serveHistory(i);
    t.response.proof = flipBase64url(t.response.proof, 0.3);
    const flipped = await run('history', ...t.args);
    expect(flipped.code).toBe(1);
    expect(flipped.json.check).toBe('history');
  });
});

describe('keyfleet audit', () => {
  // akd's append-only proof over the sparse directory's epochs 0..20, served as one audit
  // blob per epoch the way directory-node stores them.
  const audits = auditFixtures();
  const full = audits.audits.find((a) => a.directory === 'sparse' && a.start_epoch === 0)!;
  const roots = full.root_hashes;
  const proof = decodeAppendOnlyProof(b64(full.proof));
  const heads = roots.map((r, e) => (e === 0 ? undefined : head(e, r, roots[e - 1])));
  function serveAudit() {
    expect(roots[0]).toBe(bytesToHex(EMPTY_TREE_ROOT_HASH));
    routes.set('/v1/epochs/latest', { body: heads[20] });
    const blobs: Record<
      number,
      { name: string; previousRootHash: string; rootHash: string; proof: string }[]
    > = {};
    for (let e = 1; e <= 20; e++) {
      routes.set(`/v1/epochs/${e}`, { body: heads[e] });
      blobs[e] = [
        {
          name: `${e}/${roots[e - 1]}/${roots[e]}`,
          previousRootHash: roots[e - 1]!,
          rootHash: roots[e]!,
          proof: b64url(encodeSingleAppendOnlyProof(proof.proofs[e - 1]!)),
        },
      ];
      routes.set(`/v1/audit/${e}`, { body: { epoch: e, blobs: blobs[e] } });
    }
    return { blobs, args: ['--url', url, '--signing-key', signingKey, '--json'] };
  }

  it('verifies every transition from the empty tree to the latest epoch, and a sub-range', async () => {
    const { args } = serveAudit();
    const r = await run('audit', ...args);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const epochs = r.json.epochs as { epoch: number; rootHash: string }[];
    expect(epochs.map((e) => e.rootHash)).toEqual(roots.slice(1));
    const part = await run('audit', ...args, '--from', '7', '--to', '9');
    expect(part.code).toBe(0);
    expect((part.json.epochs as { epoch: number }[]).map((e) => e.epoch)).toEqual([8, 9]);
  });

  it.each([
    [
      'a flipped byte in an audit blob',
      (b: ReturnType<typeof serveAudit>['blobs']) => (b[5]![0]!.proof = flipBase64url(b[5]![0]!.proof)),
      /^audit: append-only proof for epoch 4 -> 5: /,
    ],
    [
      'a blob named for other roots',
      (b: ReturnType<typeof serveAudit>['blobs']) => (b[3]![0]!.rootHash = roots[4]!),
      /^audit: the audit blob of epoch 3 is .*, expected 3\//,
    ],
    [
      'two blobs for one epoch',
      (b: ReturnType<typeof serveAudit>['blobs']) => b[9]!.push({ ...b[9]![0]!, proof: '' }),
      'audit: fork: the directory stores 2 different audit blobs for epoch 9',
    ],
    [
      'a blob proving another transition',
      (b: ReturnType<typeof serveAudit>['blobs']) => (b[6]![0]!.proof = b[7]![0]!.proof),
      /^audit: append-only proof for epoch 5 -> 6: .*unchanged nodes hash to/,
    ],
    [
      'no blob',
      (b: ReturnType<typeof serveAudit>['blobs']) => b[12]!.pop(),
      'audit: the directory serves no audit blob for epoch 12',
    ],
  ])('fails for %s', async (_name, tamper, reason) => {
    const s = serveAudit();
    tamper(s.blobs);
    const r = await run('audit', ...s.args);
    expect(r.code).toBe(1);
    const said = `${r.json.check}: ${r.json.reason}`;
    if (typeof reason === 'string') expect(said).toContain(reason);
    else expect(said).toMatch(reason);
  });

  it('fails for a forked head, a head answering for another epoch, two heads for one epoch and a rewritten head', async () => {
    const s = serveAudit();
    routes.set('/v1/epochs/10', { body: head(10, roots[10]!, 'ef'.repeat(32)) });
    const fork = await run('audit', ...s.args);
    expect(fork.json.reason).toMatch(/^fork: the head of epoch 10 extends root efef/);

    serveAudit();
    routes.set('/v1/epochs/4', { body: heads[5] });
    const other = await run('audit', ...s.args);
    expect(other.json.reason).toBe(
      'asked for epoch 4, the directory answered with the signed head of epoch 5',
    );

    // the latest head names another root for epoch 20 than the audited head of epoch 20
    serveAudit();
    routes.set('/v1/epochs/latest', { body: head(20, 'cd'.repeat(32), roots[19]) });
    const equivocating = await run('audit', ...s.args);
    expect(equivocating.code).toBe(1);
    expect(`${equivocating.json.check}: ${equivocating.json.reason}`).toMatch(
      /^epoch-head: the directory signed two different heads for epoch 20 .*equivocates/,
    );

    // the head of epoch 20 claims a root its audit blob does not end at
    serveAudit();
    routes.set('/v1/epochs/20', { body: head(20, roots[19]!, roots[19]) });
    const rewritten = await run('audit', ...s.args, '--to', '20');
    expect(rewritten.code).toBe(1);
    expect(`${rewritten.json.check}: ${rewritten.json.reason}`).toMatch(
      /^audit: the audit blob of epoch 20 is .*, expected 20\//,
    );
  });

  it('prints each verified transition and a summary for people', async () => {
    const { args } = serveAudit();
    const r = await run('audit', ...args.filter((a) => a !== '--json'), '--from', '18');
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `epoch 19: append-only from ${roots[18]!.slice(0, 16)}… to ${roots[19]!.slice(0, 16)}… verified`,
    );
    expect(r.out).toContain(
      'VERIFIED append-only from epoch 18 to epoch 20 (2 transitions) in namespace "fixtures"',
    );
    expect(r.out).toContain(`root of epoch 20  ${roots[20]}`);
  });

  it('says which epochs it verified before a failure', async () => {
    const s = serveAudit();
    s.blobs[20]![0]!.proof = flipBase64url(s.blobs[20]![0]!.proof);
    const r = await run('audit', ...s.args.filter((a) => a !== '--json'), '--from', '17');
    expect(r.code).toBe(1);
    expect(r.out).toContain('epoch 19: append-only');
    expect(r.out).not.toContain('epoch 20: append-only');
    expect(r.err).toContain('epochs 17..19 verified before the failure');
    expect(r.err).toContain('NOT VERIFIED (audit): append-only proof for epoch 19 -> 20');
  });

  it('refuses a range beyond the latest epoch', async () => {
    const s = serveAudit();
    const r = await run('audit', ...s.args, '--to', '21');
    expect(r.code).toBe(1);
    expect(r.json.reason).toBe('epoch 21 is not published yet: the latest signed epoch is 20');
    expect((await run('audit', ...s.args, '--from', '5', '--to', '5')).code).toBe(2);
  });
});
