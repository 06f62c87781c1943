// Where a member's trust comes from, tested on real processes of a three-member fleet: sealed key
// files open only in the HSM of the member (and fleet) they were sealed for, so a member whose data
// dir holds another member's key files refuses to start; an impostor process certified by a CA of
// its own, which knows every URL and claims a member's id, never receives the fleet's OPAQUE setup
// and none of its Raft messages is accepted; crafted envelopes sent straight to the peer port are
// dropped and counted, and change nothing.
import { copyFileSync, cpSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNEL_MESSAGES,
  encodeBody,
  encodeEnvelope,
} from '../../../vault-node/src/raft/transport/codec.ts';
import { envelopeDigest, RAFT_MESSAGES_PATH } from '../../../vault-node/src/raft/transport/http-transport.ts';
import type { Message } from '../../../vault-node/src/raft/types.ts';
import { LocalFleet, type LocalMember, retry, sealingKeyFile } from '../../fleet/local-fleet.ts';
import { auditOps, backupClient, metric, post, running, settled } from './fleet-probe.ts';
import { startImpostor } from './impostor.ts';

let fleet: LocalFleet;
let backupKey: Uint8Array;

beforeAll(async () => {
  fleet = await LocalFleet.start({ size: 3, guessLimit: 5, tickMs: 50 }, 90_000);
  backupKey = crypto.getRandomValues(new Uint8Array(32));
  await backupClient(fleet, fleet.members[0] as LocalMember).register('witness', 'pw witness', backupKey);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
});

const at = (i: number) => fleet.members[i] as LocalMember;
const peerUrl = (m: LocalMember) => `http://${m.host}:7000`;

/** Starts `m` and waits for it to exit by itself; returns its exit code and what it logged. */
async function startExpectingExit(m: LocalMember): Promise<{ code: number | null; log: string }> {
  const logStart = statSync(m.logFile).size;
  fleet.spawn(m);
  const child = m.process;
  if (!child) throw new Error('not spawned');
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${m.id} kept running (log ${m.logFile})`)), 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  m.process = null;
  return { code, log: readFileSync(m.logFile, 'utf8').slice(logStart) };
}

async function witnessRecovers(via: LocalMember): Promise<void> {
  const key = await backupClient(fleet, via).recover('witness', 'pw witness');
  expect(Buffer.from(key).equals(Buffer.from(backupKey))).toBe(true);
}

async function droppedOnFleet(reason: string): Promise<number> {
  const counts = await Promise.all(
    running(fleet).map((m) => metric(m, 'keyfleet_vault_raft_messages_dropped_total', { reason })),
  );
  return counts.reduce((a, b) => a + b, 0);
}

describe('sealed key files are bound to their member', () => {
  it("refuses to start a member whose slots directory holds another member's sealed key file", async () => {
    const victim = at(2);
    const own = join(victim.dataDir, 'hsm', 'slots', 'identity.slot');
    const saved = `${own}.saved`;
    await fleet.kill(victim);
    copyFileSync(own, saved);
    copyFileSync(join(at(1).dataDir, 'hsm', 'slots', 'identity.slot'), own);
    const { code, log } = await startExpectingExit(victim);
    expect(code).not.toBe(0);
    expect(log).toContain('slot identity: authentication failed');
    renameSync(saved, own);
  });

  it("refuses another member's whole HSM directory even with that member's wrapping key", async () => {
    const victim = at(2);
    const donor = at(1);
    const hsmDir = join(victim.dataDir, 'hsm');
    const keyFile = sealingKeyFile(victim);
    renameSync(hsmDir, `${hsmDir}.own`);
    copyFileSync(keyFile, `${keyFile}.own`);
    // An attacker with both files drops the donor's audit log (its chain names the donor) and
    // tries the key files with the donor's wrapping key: the seal binds them to the donor's id.
    cpSync(join(donor.dataDir, 'hsm'), hsmDir, { recursive: true });
    rmSync(join(hsmDir, 'audit.log'));
    copyFileSync(sealingKeyFile(donor), keyFile);
    const { code, log } = await startExpectingExit(victim);
    expect(code).not.toBe(0);
    expect(log).toMatch(
      /slot [a-z-]+: authentication failed; the file was sealed under another wrapping key, for another fleet, member/,
    );
    rmSync(hsmDir, { recursive: true });
    renameSync(`${hsmDir}.own`, hsmDir);
    renameSync(`${keyFile}.own`, keyFile);
  });

  it('starts again with its own files and serves recoveries', async () => {
    fleet.spawn(at(2));
    await settled(fleet);
    await witnessRecovers(at(2));
  });
});

describe('a member certified by another CA', () => {
  it('never receives the fleet secret, and every Raft message it sends is dropped', async () => {
    const victim = at(1);
    const exportsTo = () =>
      fleet.members
        .flatMap(auditOps)
        .filter((e) => e.op === 'export-fleet-secret' && e.detail === `to=${victim.id}`).length;
    const exportsBefore = exportsTo();
    const dropsBefore = await droppedOnFleet('bad-signature');
    const refusalsBefore = fleet.members.map((m) => countLines(m.logFile, 'fleet secret request refused'));
    const impostor = await startImpostor(fleet, victim);
    try {
      // It campaigns (signed pre-votes as the victim) and asks every member for the fleet secret.
      await retry(async () => {
        if ((await droppedOnFleet('bad-signature')) <= dropsBefore) throw new Error('no message dropped yet');
        const refusals = fleet.members.map((m) => countLines(m.logFile, 'fleet secret request refused'));
        if (!refusals.some((n, i) => n > (refusalsBefore[i] as number))) throw new Error('not asked yet');
      }, 45_000);
      expect(auditOps(impostor.member).some((e) => e.op === 'import-fleet-secret')).toBe(false);
      const ready = await fetch(impostor.member.adminUrl + HttpPath.readyz);
      expect(ready.status).toBe(503);
      expect(exportsTo()).toBe(exportsBefore);
    } finally {
      await fleet.kill(impostor.member);
    }
    await settled(fleet);
    await witnessRecovers(at(0));
  });

  it('drops crafted envelopes on the peer port (any claimed sender) and its term does not move', async () => {
    const leader = await fleet.leader();
    const target = running(fleet).find((m) => m !== leader) as LocalMember;
    const forgedKey = ed25519.utils.randomSecretKey();
    const huge = 1_000_000;
    const envelope = (from: string, messages: Omit<Message, 'from' | 'to'>[]) => {
      const signed = encodeEnvelope(
        { channel: CHANNEL_MESSAGES, from, to: target.id, counter: Date.now() },
        messages.map((m) => ({ ...m, from, to: target.id })),
      );
      return encodeBody(ed25519.sign(envelopeDigest(signed), forgedKey), signed);
    };
    const send = async (body: Uint8Array) => {
      const res = await fetch(peerUrl(target) + RAFT_MESSAGES_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
      });
      return { status: res.status, body: await res.json() };
    };
    const before = {
      bad: await metric(target, 'keyfleet_vault_raft_messages_dropped_total', { reason: 'bad-signature' }),
      unknown: await metric(target, 'keyfleet_vault_raft_messages_dropped_total', {
        reason: 'unknown-member',
      }),
    };
    const asLeader = await send(
      envelope(leader.id, [
        { type: 'vote', term: huge, index: huge, logTerm: huge },
        { type: 'append', term: huge, index: 0, logTerm: 0, entries: [], commit: huge },
      ]),
    );
    expect(asLeader.status).toBe(403);
    expect(asLeader.body).toMatchObject({ error: { code: 'bad-signature' } });
    const asStranger = await send(
      envelope('backups-dc9', [{ type: 'vote', term: huge, index: 1, logTerm: 1 }]),
    );
    expect(asStranger.status).toBe(403);
    const garbage = await send(crypto.getRandomValues(new Uint8Array(300)));
    expect(garbage.status).toBe(400);
    expect(
      await metric(target, 'keyfleet_vault_raft_messages_dropped_total', { reason: 'bad-signature' }),
    ).toBeGreaterThan(before.bad);
    expect(
      await metric(target, 'keyfleet_vault_raft_messages_dropped_total', { reason: 'unknown-member' }),
    ).toBeGreaterThan(before.unknown);
    expect(await metric(target, 'keyfleet_vault_raft_term')).toBeLessThan(huge);
    // The fleet secret goes to no one who cannot show a certificate of this fleet's CA.
    const secret = await post(peerUrl(target) + HttpPath.peerFleetSecret, 'not a certificate', {
      'content-type': 'application/octet-stream',
    });
    expect(secret.status).toBe(403);
    expect(secret.body).toMatchObject({ error: { code: 'refused' } });
    await witnessRecovers(target);
  });
});

function countLines(file: string, needle: string): number {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(needle)).length;
}
