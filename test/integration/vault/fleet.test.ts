// A seven-member vault fleet of real processes: backup and recovery through any member, the
// guess limit, and survival of member and leader kills.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BackupClient, httpTransport } from '@keyfleet/sdk/backup/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../fleet/local-fleet.ts';

// Argon2id at its production cost takes ~200 ms per login; these tests use few logins.
let fleet: LocalFleet;

beforeAll(async () => {
  fleet = await LocalFleet.start({ guessLimit: 3, tickMs: 50 }, 90_000);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
});

function client(memberIndex: number) {
  const member = fleet.members[memberIndex];
  if (!member) throw new Error(`no member ${memberIndex}`);
  return new BackupClient({
    fleetId: fleet.fleetId,
    trustedMembers: fleet.trustedMembers(),
    transport: httpTransport(member.clientUrl),
  });
}

const cli = fileURLToPath(new URL('../../../sdk/src/cli/main.ts', import.meta.url));

async function keyfleet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('a seven-member vault fleet of real processes', () => {
  it('serves the keyfleet CLI: backup register, recover, and a wrong password', async () => {
    const trust = join(fleet.root, 'trust.json');
    const password = join(fleet.root, 'password');
    const wrong = join(fleet.root, 'wrong-password');
    writeFileSync(trust, fleet.trustFile(fleet.members[3]?.clientUrl));
    writeFileSync(password, 'hunter2 but longer\n');
    writeFileSync(wrong, 'hunter3\n');
    // This test is about the escrow path; test/integration/vault/attestation.test.ts covers the
    // attested path (the default) against a served bundle.
    const common = ['--trust', trust, '--user', 'carol', '--json', '--insecure-skip-attestation'];
    const registered = await keyfleet('backup', 'register', ...common, '--password-file', password);
    expect(registered.code, registered.stderr).toBe(0);
    const key = (JSON.parse(registered.stdout) as { backupKey: string }).backupKey;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const recovered = await keyfleet('backup', 'recover', ...common, '--password-file', password);
    expect(JSON.parse(recovered.stdout)).toEqual({ user: 'carol', action: 'recover', backupKey: key });
    const refused = await keyfleet('backup', 'recover', ...common, '--password-file', wrong);
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stdout).error.code).toBe('wrong-password');
  });

  it('escrows a backup key through one member and recovers it through another', async () => {
    const backupKey = crypto.getRandomValues(new Uint8Array(32));
    await client(2).register('alice', 'correct horse', backupKey);
    const recovered = await client(5).recover('alice', 'correct horse');
    expect(Buffer.from(recovered).equals(Buffer.from(backupKey))).toBe(true);
  });

  it('locks a record after guessLimit wrong passwords, even for the right one afterwards', async () => {
    await client(0).register('mallory-target', 'right password', crypto.getRandomValues(new Uint8Array(32)));
    for (let i = 0; i < 3; i++) {
      await expect(client(i + 1).recover('mallory-target', `guess ${i}`)).rejects.toMatchObject({
        code: 'wrong-password',
      });
    }
    await expect(client(4).recover('mallory-target', 'right password')).rejects.toMatchObject({
      code: 'locked',
    });
  });

  it('keeps every acknowledged record when the leader is killed, and recovers through the new leader', async () => {
    const backupKey = crypto.getRandomValues(new Uint8Array(32));
    await client(1).register('bob', 'pw-bob', backupKey);
    const oldLeader = await fleet.leader();
    await fleet.kill(oldLeader);
    const survivor = fleet.members.findIndex((m) => m !== oldLeader);
    const newLeader = await fleet.leader(20_000);
    expect(newLeader.id).not.toBe(oldLeader.id);
    expect(Buffer.from(await client(survivor).recover('bob', 'pw-bob')).equals(Buffer.from(backupKey))).toBe(
      true,
    );
    fleet.spawn(oldLeader);
    await fleet.waitAllReady(60_000);
    const back = fleet.members.indexOf(oldLeader);
    expect(Buffer.from(await client(back).recover('alice', 'correct horse')).length).toBe(32);
  });
});
