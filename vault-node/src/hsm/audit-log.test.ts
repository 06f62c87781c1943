import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Purpose, rawPublicKey, signWithPurpose } from '@keyfleet/sdk/hsm/keys';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, auditGenesisHash, CHECKPOINT_INTERVAL, verifyAuditLog } from './audit-log.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fleet = 'vaults/backups';
const member = 'backups-dc1';
const identity = generateKeyPairSync('ed25519').privateKey;
const identityPublicKey = rawPublicKey(identity);

/** A log of `n` operations (plus checkpoints), as text. */
async function makeLog(n: number, signed = true): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'keyfleet-audit-'));
  dirs.push(dir);
  const path = join(dir, 'audit.log');
  let t = Date.UTC(2030, 0, 1);
  const log = AuditLog.open(path, { fleet, member, now: () => t++ });
  if (signed) log.setCheckpointSigner((m) => signWithPurpose(identity, Purpose.auditCheckpoint, m));
  for (let i = 0; i < n; i++)
    log.append(['sign', 'wrap', 'opaque-start-login'][i % 3]!, 'identity', `n=${i}`);
  await log.close();
  return readFileSync(path, 'utf8');
}

const opts = { fleet, member, identityPublicKey };
const lines = (text: string) => text.slice(0, -1).split('\n');
const join_ = (ls: string[]) => `${ls.join('\n')}\n`;

describe('audit log verification', () => {
  it('accepts an untouched log and reports its head and checkpoints', async () => {
    const text = await makeLog(10);
    const v = verifyAuditLog(text, opts);
    expect(v).toMatchObject({ ok: true, entries: 11, checkpoints: 1, lastCheckpoint: 11, tornTailBytes: 0 });
    const first = JSON.parse(lines(text)[0]!);
    expect(first).toMatchObject({ seq: 1, op: 'sign', slot: 'identity', detail: 'n=0' });
    expect(first.prevHash).toBe(auditGenesisHash(fleet, member));
    expect(Object.keys(first)).toEqual(['seq', 'time', 'op', 'slot', 'detail', 'prevHash', 'hash']);
  });

  it('checkpoints every CHECKPOINT_INTERVAL entries', async () => {
    const v = verifyAuditLog(await makeLog(CHECKPOINT_INTERVAL * 2 + 5), opts);
    expect(v).toMatchObject({ ok: true, checkpoints: 3 });
  });

  it('detects an edit of any single character of any line', { timeout: 30_000 }, async () => {
    const text = await makeLog(3);
    const head = (verifyAuditLog(text, opts) as { head: { seq: number; hash: string } }).head;
    let edits = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      for (const r of ['0', 'a', 'x', '"', '\n', ' ']) {
        if (r === c) continue;
        const mutated = text.slice(0, i) + r + text.slice(i + 1);
        const v = verifyAuditLog(mutated, { ...opts, head });
        expect(v.ok, `char ${i} ${JSON.stringify(c)} -> ${JSON.stringify(r)}`).toBe(false);
        edits++;
      }
    }
    expect(edits).toBeGreaterThan(text.length * 5);
  });

  it('detects any removal or reordering of lines but the last ones', async () => {
    const ls = lines(await makeLog(8));
    for (let i = 0; i < ls.length - 1; i++) {
      expect(verifyAuditLog(join_(ls.filter((_, j) => j !== i)), opts).ok, `remove ${i}`).toBe(false);
      const swapped = [...ls];
      [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
      expect(verifyAuditLog(join_(swapped), opts).ok, `swap ${i}`).toBe(false);
      expect(
        verifyAuditLog(join_([...ls.slice(0, i + 1), ls[i]!, ...ls.slice(i + 1)]), opts).ok,
        `dup ${i}`,
      ).toBe(false);
    }
  });

  it('removal from the end is caught against a recorded head', async () => {
    const text = await makeLog(5);
    const v = verifyAuditLog(text, opts);
    if (!v.ok) throw new Error('unexpected');
    const cut = join_(lines(text).slice(0, -2));
    expect(verifyAuditLog(cut, opts).ok).toBe(true);
    expect(verifyAuditLog(cut, { ...opts, head: v.head })).toMatchObject({
      ok: false,
      reason: /head .* is missing/,
    });
  });

  it('a log moved to another member or fleet fails at its first line', async () => {
    const text = await makeLog(2);
    expect(verifyAuditLog(text, { ...opts, member: 'backups-dc2' })).toMatchObject({ ok: false, line: 1 });
    expect(verifyAuditLog(text, { ...opts, fleet: 'vaults/x' })).toMatchObject({ ok: false, line: 1 });
  });

  it('a rewrite with recomputed hashes passes the chain but not the checkpoint signatures', async () => {
    const ls = lines(await makeLog(4)).map((l) => JSON.parse(l));
    // The attacker edits entry 2 and recomputes every hash after it (no identity key).
    ls[1].detail = 'n=forged';
    let prev = auditGenesisHash(fleet, member);
    const rewritten = ls.map(({ hash: _, ...e }) => {
      const body = JSON.stringify({ ...e, prevHash: prev });
      const hash = createHash('sha256').update(`keyfleet/v1/hsm-audit\0${body}`).digest('hex');
      const line = JSON.stringify({ ...e, prevHash: prev, hash });
      prev = hash;
      return line;
    });
    const text = join_(rewritten);
    expect(verifyAuditLog(text, { fleet, member }).ok).toBe(true);
    expect(verifyAuditLog(text, opts)).toMatchObject({ ok: false, reason: /checkpoint signature/ });
  });

  it('reports a torn last line without failing', async () => {
    const text = await makeLog(3);
    const v = verifyAuditLog(`${text}{"seq":5,"ti`, opts);
    expect(v).toMatchObject({ ok: true, entries: 4, tornTailBytes: 12 });
  });

  it('any random corruption is detected against the head (property)', async () => {
    const text = await makeLog(5);
    const v = verifyAuditLog(text, opts);
    if (!v.ok) throw new Error('unexpected');
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), (at, s) => {
        const mutated = text.slice(0, at) + s + text.slice(at + s.length);
        fc.pre(mutated !== text);
        expect(verifyAuditLog(mutated, { ...opts, head: v.head }).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('AuditLog', () => {
  it('continues the chain after reopening, and refuses appends after close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyfleet-audit-'));
    dirs.push(dir);
    const path = join(dir, 'audit.log');
    const o = { fleet, member, now: () => Date.UTC(2030, 0, 1) };
    const a = AuditLog.open(path, o);
    a.append('generate', 'x', 'symmetric');
    const head = a.head();
    await a.close();
    expect(() => a.append('sign', 'x')).toThrow(/closed/);
    const b = AuditLog.open(path, o);
    expect(b.head()).toEqual(head);
    const e = b.append('sign', 'x');
    expect(e).toMatchObject({ seq: 2, prevHash: head.hash });
    expect(() => b.append('sign', 'bad slot')).toThrow(/not a token/);
    await b.close();
    expect(verifyAuditLog(readFileSync(path, 'utf8'), { fleet, member })).toMatchObject({
      ok: true,
      entries: 2,
    });
  });
});
