// Bounded growth of the HSM audit log: routine signatures counted into usage entries, rotation into
// segments with retention, and verification of the retained chain.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { Purpose, rawPublicKey, signWithPurpose } from '@keyfleet/sdk/hsm/keys';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AuditLog,
  type AuditLogOptions,
  auditLogFiles,
  verifyAuditLog,
  verifyAuditSegments,
} from './audit-log.ts';
import { IDENTITY_SLOT, SoftwareHsm } from './hsm.ts';
import { provisionMember, TEST_EPOCH_MS } from './testing.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'keyfleet-audit-'));
  dirs.push(d);
  return d;
};

const fleet = 'vaults/backups';
const member = 'backups-dc1';
const identity = generateKeyPairSync('ed25519').privateKey;
const identityPublicKey = rawPublicKey(identity);
const signer = (m: Uint8Array) => signWithPurpose(identity, Purpose.auditCheckpoint, m);
const opts = { fleet, member, identityPublicKey };
const entries = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; op: string; slot: string; detail: string });

function openLog(path: string, o: Partial<AuditLogOptions> = {}): AuditLog {
  let t = Date.UTC(2030, 0, 1);
  const log = AuditLog.open(path, { fleet, member, now: () => t++, usageIntervalMs: 3_600_000, ...o });
  log.setCheckpointSigner(signer);
  return log;
}

describe('usage entries', () => {
  it('count routine operations per key and purpose; other operations stay one entry each', async () => {
    const path = join(scratch(), 'audit.log');
    const log = openLog(path);
    for (let i = 0; i < 10_000; i++) log.count('sign', 'identity', Purpose.raftMessage);
    log.append('unwrap', 'data', 'ok');
    for (let i = 0; i < 7; i++) log.count('sign', 'other', Purpose.raftMessage);
    log.append('generate', 'data2', 'symmetric');
    await log.close();
    const got = entries(path).map((e) => [e.op, e.slot, e.detail.replace(/,since=.*/, '')]);
    expect(got).toEqual([
      ['unwrap', 'data', 'ok'],
      ['generate', 'data2', 'symmetric'],
      ['usage', 'identity', `sign:${Purpose.raftMessage}=10000`],
      ['usage', 'other', `sign:${Purpose.raftMessage}=7`],
      ['checkpoint', 'identity', expect.any(String)],
    ]);
    expect(entries(path)[2]!.detail).toMatch(/,since=2030-01-01T00:00:00\.\d{3}Z$/);
    expect(verifyAuditLog(readFileSync(path, 'utf8'), opts)).toMatchObject({ ok: true, checkpoints: 1 });
  });

  it('are written every interval, and before each checkpoint so the checkpoint covers them', async () => {
    const path = join(scratch(), 'audit.log');
    const log = openLog(path, { usageIntervalMs: 20 });
    log.count('sign', 'identity', Purpose.raftMessage);
    log.count('sign', 'identity', Purpose.raftMessage);
    await new Promise((r) => setTimeout(r, 80));
    expect(entries(path).map((e) => e.detail.replace(/,since=.*/, ''))).toEqual([
      `sign:${Purpose.raftMessage}=2`,
    ]);
    log.count('sign', 'identity', Purpose.raftMessage);
    log.checkpoint();
    expect(entries(path).map((e) => e.op)).toEqual(['usage', 'usage', 'checkpoint']);
    await log.close();
  });

  it('refuse fields that would not make a token, and counting after close', async () => {
    const log = openLog(join(scratch(), 'audit.log'));
    expect(() => log.count('sign', 'identity', 'a b')).toThrow(/not a token/);
    expect(() => log.count('sign', 'identity', 'x'.repeat(65))).toThrow(/not a token/);
    await log.close();
    expect(() => log.count('sign', 'identity', Purpose.raftMessage)).toThrow(/closed/);
  });

  it('keep an HSM signing Raft envelopes to a few lines, not one per envelope', async () => {
    const { ca } = CertificateAuthority.generate();
    const m = await provisionMember(ca, fleet, member, 'dc1', scratch());
    const before = entries(join(m.dir, 'audit.log')).length;
    for (let i = 0; i < 5000; i++) m.hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, new Uint8Array([i & 255]));
    await m.hsm.close();
    const after = entries(join(m.dir, 'audit.log'));
    // close, one usage entry, the final checkpoint.
    expect(after.length - before).toBe(3);
    expect(after.find((e) => e.op === 'usage')?.detail).toMatch(`sign:${Purpose.raftMessage}=5000,`);
    const reopened = await SoftwareHsm.open(m.options);
    expect(
      verifyAuditLog(readFileSync(join(m.dir, 'audit.log'), 'utf8'), {
        fleet,
        member,
        identityPublicKey: reopened.publicKey(IDENTITY_SLOT),
      }),
    ).toMatchObject({ ok: true });
    await reopened.close();
  });
});

describe('rotation', () => {
  /** A log rotated several times: 600-byte segments, two kept. */
  async function rotated(keepSegments = 2) {
    const dir = scratch();
    const path = join(dir, 'audit.log');
    const log = openLog(path, { maxBytes: 1500, keepSegments });
    for (let i = 0; i < 60; i++) log.append('generate', `slot-${i}`, 'symmetric');
    const head = log.head();
    await log.close();
    return { dir, path, head };
  }

  it('bounds the files kept, and the retained chain verifies as a signed suffix', async () => {
    const { dir, path, head } = await rotated();
    const files = auditLogFiles(path);
    expect(files.length).toBe(3);
    expect(readdirSync(dir).sort()).toEqual(files.map((f) => f.slice(dir.length + 1)).sort());
    // Each rotated segment ends with a signed checkpoint; the next file starts with "segment".
    for (const f of files.slice(0, -1)) expect(entries(f).at(-1)?.op).toBe('checkpoint');
    expect(entries(path)[0]).toMatchObject({ op: 'segment' });
    const v = verifyAuditSegments(path, { ...opts, head });
    expect(v).toMatchObject({ ok: true, files: 3, fromGenesis: false });
    expect(v.ok && v.head.seq).toBeGreaterThanOrEqual(head.seq);
    // Nothing was lost before retention: every seq of the retained files is there, in order.
    const seqs = files.flatMap(entries).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it('keeps everything from the genesis when retention allows', async () => {
    const { path } = await rotated(100);
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: true, fromGenesis: true });
  });

  it('continues the chain after reopening a rotated log', async () => {
    const { path, head } = await rotated();
    const log = openLog(path, { maxBytes: 1500, keepSegments: 2 });
    expect(log.head().seq).toBeGreaterThan(head.seq);
    log.append('unwrap', 'slot-1', 'ok');
    await log.close();
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: true });
  });

  it('continues from the newest segment when the crash came between rename and the new file', async () => {
    const { path } = await rotated();
    rmSync(path);
    const log = openLog(path, { maxBytes: 1500, keepSegments: 2 });
    log.append('unwrap', 'slot-1', 'ok');
    await log.close();
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: true });
  });

  it('detects an edited or removed segment, and a recorded head that is gone', async () => {
    const { path, head } = await rotated();
    const [first, second] = auditLogFiles(path);
    const older = readFileSync(first!, 'utf8');
    writeFileSync(first!, older.replace('"op":"generate"', '"op":"generat3"'));
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: false, file: first });
    writeFileSync(first!, older);
    // Opening checks the newest segment (where the chain continues) and the current file.
    const text = readFileSync(second!, 'utf8');
    writeFileSync(second!, text.replace('"op":"generate"', '"op":"generat3"'));
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: false, file: second });
    expect(() => openLog(path)).toThrow(/refusing to continue/);
    rmSync(second!);
    // ...but a missing middle segment breaks the chain at the next file.
    expect(verifyAuditSegments(path, opts)).toMatchObject({ ok: false });
    expect(() => openLog(path)).toThrow(/refusing to continue/);
    writeFileSync(second!, text);
    expect(
      verifyAuditSegments(path, { ...opts, head: { seq: head.seq + 100, hash: head.hash } }),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/missing/) });
  });

  it('refuses a retained suffix that no checkpoint vouches for', async () => {
    const path = join(scratch(), 'audit.log');
    let t = TEST_EPOCH_MS;
    const log = AuditLog.open(path, { fleet, member, now: () => t++, maxBytes: 1500, keepSegments: 1 });
    for (let i = 0; i < 40; i++) log.append('generate', `slot-${i}`, 'symmetric');
    await log.close();
    expect(verifyAuditSegments(path, opts)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/checkpoint/),
    });
  });
});
