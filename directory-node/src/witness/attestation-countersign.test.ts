// POST /v1/attestations/countersign over real HTTP on loopback: a countersignature that verifies
// for the fleet's own key; refusals (wrong fleet's key, rollback, fork, bad input) as 4xx JSON; the
// last serial survives a restart of the witness state; the signers directory is re-read.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildFleetStatement,
  COUNTERSIGNATURE_PAYLOAD_TYPE,
  type DsseEnvelope,
  decodeCountersignaturePayload,
  ed25519Signer,
  envelopeDigest,
  envelopePayload,
  formatDigest,
  signFleetStatement,
  verifyEnvelope,
} from '@keyfleet/sdk/attestation/index';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AttestationFixture, FLEET, NOW } from '../../../test/integration/attestation/fixture.ts';
import { createApp } from '../api/app.ts';
import { createMetrics } from '../metrics.ts';
import {
  attestationCountersignRouter,
  COUNTERSIGN_PATH,
  DSSE_MEDIA_TYPE,
  readAttestationSigners,
  signerFileName,
} from './attestation-countersign.ts';
import { WitnessState } from './state.ts';

const f = new AttestationFixture();
const witnessKey = ed25519Signer(new Uint8Array(32).fill(9));
let dir: string;
let signersDir: string;
let state: WitnessState | undefined;
let close: (() => Promise<void>) | undefined;

function writeSigner(name: string, key: Uint8Array): void {
  writeFileSync(join(signersDir, name), Buffer.from(key).toString('hex'));
}

async function serve(signers: string | undefined): Promise<string> {
  if (state === undefined) throw new Error('open the state first');
  const app = createApp({
    routers: [
      attestationCountersignRouter({ signersDir: signers, state, witness: witnessKey, now: () => NOW }),
    ],
    registry: createMetrics().registry,
    notReadyReason: () => undefined,
    log: () => {},
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  close = () => new Promise((r) => server.close(() => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(url: string, body: string | DsseEnvelope, type = DSSE_MEDIA_TYPE) {
  const res = await fetch(url + COUNTERSIGN_PATH, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const envelope = (serial: number, guessLimit = 10) =>
  signFleetStatement(buildFleetStatement(f.input({ serial, guessLimit })), f.operator);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'witness-attest-'));
  signersDir = join(dir, 'signers');
  mkdirSync(signersDir);
});
afterEach(async () => {
  await close?.();
  close = undefined;
  state?.close();
  state = undefined;
});
afterAll(() => {
  f.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /v1/attestations/countersign', () => {
  it('countersigns the operator signature of the fleet it names, and refuses rollback and fork durably', async () => {
    state = new WitnessState(join(dir, 'a.db'));
    writeSigner(signerFileName(FLEET), f.operator.publicKey);
    let url = await serve(signersDir);
    const e2 = envelope(2);
    const ok = await post(url, e2);
    expect(ok.status).toBe(200);
    const cs = ok.json as unknown as DsseEnvelope;
    verifyEnvelope(cs, COUNTERSIGNATURE_PAYLOAD_TYPE, [witnessKey.publicKey], 'cs', 'witness');
    const payload = decodeCountersignaturePayload(envelopePayload(cs));
    expect(payload.envelopeDigest).toBe(formatDigest(envelopeDigest(e2)));
    expect(payload.operatorSignature).toBe(e2.signatures[0]?.sig);

    // A retry of the same envelope is countersigned again.
    expect((await post(url, e2)).status).toBe(200);

    // The state survives a restart of the witness.
    await close?.();
    state?.close();
    state = new WitnessState(join(dir, 'a.db'));
    url = await serve(signersDir);
    const lower = await post(url, envelope(1));
    expect(lower.status).toBe(409);
    expect((lower.json.error as { code: string }).code).toBe('serial_rollback');
    const fork = await post(url, envelope(2, 11));
    expect(fork.status).toBe(409);
    expect((fork.json.error as { code: string }).code).toBe('serial_fork');
    expect((await post(url, envelope(3))).status).toBe(200);
  });

  it("refuses an envelope signed by another fleet's key, and follows changes to the signers directory", async () => {
    state = new WitnessState(join(dir, 'b.db'));
    const other = ed25519Signer(new Uint8Array(32).fill(77));
    writeSigner(signerFileName(FLEET), other.publicKey);
    writeSigner('vaults.other-fleet', f.operator.publicKey);
    const url = await serve(signersDir);
    const wrong = await post(url, envelope(1));
    expect(wrong.status).toBe(403);
    expect((wrong.json.error as { code: string }).code).toBe('wrong_signer');
    writeSigner('vaults.other-fleet', other.publicKey);
    const untrusted = await post(url, envelope(1));
    expect((untrusted.json.error as { code: string }).code).toBe('untrusted_signer');
    // The ConfigMap changes: the fleet's own key appears; no restart needed.
    writeSigner(signerFileName(FLEET), f.operator.publicKey);
    expect((await post(url, envelope(1))).status).toBe(200);
  });

  it('answers bad input with 4xx JSON errors', async () => {
    state = new WitnessState(join(dir, 'c.db'));
    const url = await serve(signersDir);
    const good = envelope(1);
    const cases: Array<[string | DsseEnvelope, string, number, string]> = [
      ['{', DSSE_MEDIA_TYPE, 400, 'invalid_envelope'],
      ['[]', DSSE_MEDIA_TYPE, 400, 'invalid_envelope'],
      [{ ...good, extra: 1 } as DsseEnvelope, DSSE_MEDIA_TYPE, 400, 'invalid_envelope'],
      [{ ...good, signatures: [] }, DSSE_MEDIA_TYPE, 400, 'invalid_envelope'],
      [{ ...good, payloadType: 'text/plain' }, DSSE_MEDIA_TYPE, 400, 'invalid_envelope'],
      [good, 'application/json', 415, 'unsupported_media_type'],
      [good, 'text/plain', 415, 'unsupported_media_type'],
      ['x'.repeat(400 * 1024), DSSE_MEDIA_TYPE, 413, 'body_too_large'],
    ];
    for (const [body, type, status, code] of cases) {
      const r = await post(url, body, type);
      expect([r.status, (r.json.error as { code: string } | undefined)?.code]).toEqual([status, code]);
    }
    // A signature that does not verify under the fleet's key (one flipped bit) is refused.
    const sig = Buffer.from(good.signatures[0]?.sig ?? '', 'base64');
    sig[5] = (sig[5] ?? 0) ^ 1;
    const tampered = {
      ...good,
      signatures: [{ keyid: good.signatures[0]?.keyid ?? '', sig: sig.toString('base64') }],
    };
    expect((await post(url, tampered)).status).toBe(403);
  });

  it('answers 503 when the witness has no signers directory', async () => {
    state = new WitnessState(join(dir, 'd.db'));
    const url = await serve(undefined);
    const r = await post(url, envelope(1));
    expect([r.status, (r.json.error as { code: string }).code]).toEqual([503, 'not_configured']);
  });
});

describe('readAttestationSigners', () => {
  it('reads <ns>.<name> files of 64 hex and skips everything else', () => {
    const d = join(dir, 'read');
    mkdirSync(join(d, '..2026_11_23'), { recursive: true });
    writeFileSync(join(d, 'ns.fleet'), `${'ab'.repeat(32)}\n`);
    writeFileSync(join(d, 'ns.short'), 'abcd');
    writeFileSync(join(d, 'NoDots'), 'ab'.repeat(32));
    writeFileSync(join(d, 'ns.upper'), 'AB'.repeat(32));
    const signers = readAttestationSigners(d);
    expect([...signers.keys()]).toEqual(['ns.fleet']);
    expect(readAttestationSigners(join(dir, 'missing')).size).toBe(0);
  });
});
