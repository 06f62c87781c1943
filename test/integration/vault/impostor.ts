// An impostor vault-node process for the trust tests: the real vault-node program, configured as
// a member of a running LocalFleet (same fleet id, the member id of one of its members, every
// member's peer URL) but on its own loopback address, with its own data dir, and with its HSM
// certified by a CA of its own instead of the fleet's manufacturer CA. It runs everything a member
// runs: it campaigns in Raft (MACs from its HSM) and asks the members for the fleet secret.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { VaultAdminClient } from '@keyfleet/sdk/vault/admin-client';
import { Env, HttpPath } from '@keyfleet/sdk/vault/contract';
import { ed25519 } from '@noble/curves/ed25519.js';
import { type LocalFleet, type LocalMember, retry, spawnVaultNode } from '../../fleet/local-fleet.ts';

export interface Impostor {
  readonly member: LocalMember;
  readonly ca: CertificateAuthority;
}

/** Starts and provisions (with its own CA) an impostor of `victim` on host 127.x.y.`hostOctet`. */
export async function startImpostor(
  fleet: LocalFleet,
  victim: LocalMember,
  hostOctet = 200,
): Promise<Impostor> {
  const host = victim.host.replace(/\.\d+$/, `.${hostOctet}`);
  const root = join(fleet.root, 'impostor');
  const trust = join(root, 'trust');
  mkdirSync(trust, { recursive: true });
  const ca = CertificateAuthority.generate().ca;
  const adminSecret = ed25519.utils.randomSecretKey();
  // Its HSM trusts its own CA and the fleet's (public) one: it can check the members'
  // certificates and make MACs for them, under keys no member shares with it.
  const fleetCa = readFileSync(fleet.memberEnv(victim)[Env.manufacturerCaFile] as string, 'utf8').trim();
  writeFileSync(join(trust, 'ca.pub'), `${Buffer.from(ca.publicKey).toString('hex')}\n${fleetCa}\n`);
  writeFileSync(join(trust, 'admin.pub'), Buffer.from(ed25519.getPublicKey(adminSecret)).toString('hex'));
  writeFileSync(join(root, 'sealing-key'), crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
  const member: LocalMember = {
    ...victim,
    host,
    clientUrl: `http://${host}:8080`,
    adminUrl: `http://${host}:8081`,
    metricsUrl: `http://${host}:9090`,
    dataDir: join(root, 'data'),
    logFile: join(root, 'impostor.log'),
    process: null,
    certificate: null,
  };
  mkdirSync(member.dataDir, { recursive: true });
  const env = fleet.memberEnv(victim);
  const peerUrls = fleet.members.map((m) => `${m.id}=http://${m === victim ? host : m.host}:7000`).join(',');
  member.process = spawnVaultNode(
    {
      ...env,
      [Env.dataDir]: member.dataDir,
      [Env.sealingKeyFile]: join(root, 'sealing-key'),
      [Env.manufacturerCaFile]: join(trust, 'ca.pub'),
      [Env.operatorAdminKeyFile]: join(trust, 'admin.pub'),
      [Env.listenHost]: host,
      [Env.peerUrls]: peerUrls,
    },
    member.logFile,
  );
  const admin = new VaultAdminClient(member.adminUrl, adminSecret);
  const request = await retry(() => admin.call<{ request: string }>('GET', HttpPath.identityRequest), 30_000);
  const now = Math.floor(Date.now() / 1000);
  const certificate = ca.issue(new Uint8Array(Buffer.from(request.request, 'base64url')), {
    expect: { fleet: fleet.fleetId, member: victim.id, zone: victim.zone },
    notBefore: now - 60,
    notAfter: now + 3600,
  });
  await admin.call('POST', HttpPath.identityCertificate, {
    certificate: Buffer.from(certificate).toString('base64url'),
  });
  member.certificate = certificate;
  return { member, ca };
}
