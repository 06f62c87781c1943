// Test and benchmark support: a provisioned fleet of software HSMs in temporary directories, set up
// the way the operator will do it (generate identity and agreement keys, certificate request, CA
// issues, install; fleet secret generated in the first HSM and distributed to the others).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { certificateRequestTbs, encodeCertificateRequest } from '@keyfleet/sdk/hsm/certificate';
import { Purpose, rawPublicKey, signWithPurpose } from '@keyfleet/sdk/hsm/keys';
import {
  AGREEMENT_SLOT,
  FLEET_SECRET_SLOT,
  IDENTITY_SLOT,
  SoftwareHsm,
  type SoftwareHsmOptions,
} from './hsm.ts';

export const TEST_EPOCH_MS = Date.UTC(2030, 0, 1);
export const ONE_YEAR_S = 365 * 24 * 3600;

export interface TestMember {
  readonly member: string;
  readonly zone: string;
  readonly dir: string;
  readonly wrappingKeyFile: string;
  readonly certificate: Uint8Array;
  readonly options: SoftwareHsmOptions;
  hsm: SoftwareHsm;
}

export interface TestFleet {
  readonly fleetId: string;
  readonly ca: CertificateAuthority;
  readonly members: TestMember[];
  /** A directory the caller may use for anything; removed by cleanup(). */
  readonly scratch: string;
  cleanup(): Promise<void>;
}

export function writeWrappingKey(dir: string, key: Uint8Array = new Uint8Array(randomBytes(32))): string {
  const path = join(dir, 'wrapping.key');
  writeFileSync(path, key, { mode: 0o600 });
  return path;
}

/** Opens an HSM in a new directory and certifies it by `ca`. */
export async function provisionMember(
  ca: CertificateAuthority,
  fleetId: string,
  member: string,
  zone: string,
  root: string,
  extra: Partial<SoftwareHsmOptions> = {},
): Promise<TestMember> {
  const dir = join(root, member);
  const keyDir = join(root, `${member}-secret`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const options: SoftwareHsmOptions = {
    dir,
    wrappingKeyFile: writeWrappingKey(keyDir),
    fleetId,
    memberId: member,
    trustAnchors: [ca.publicKey],
    now: () => TEST_EPOCH_MS,
    ...extra,
  };
  const hsm = await SoftwareHsm.open(options);
  await hsm.generate(IDENTITY_SLOT, 'ed25519');
  await hsm.generate(AGREEMENT_SLOT, 'x25519');
  const nowS = Math.floor(TEST_EPOCH_MS / 1000);
  const certificate = ca.issue(hsm.certificateRequest(zone), {
    expect: { fleet: fleetId, member, zone },
    notBefore: nowS - 60,
    notAfter: nowS + ONE_YEAR_S,
  });
  await hsm.installCertificate(certificate);
  return { member, zone, dir, wrappingKeyFile: options.wrappingKeyFile, certificate, options, hsm };
}

/** `size` members (dc1..), each certified; the fleet secret generated in the first and distributed. */
export async function provisionFleet(
  size: number,
  o: { fleetId?: string; distribute?: boolean; extra?: Partial<SoftwareHsmOptions> } = {},
): Promise<TestFleet> {
  const fleetId = o.fleetId ?? 'vaults/backups';
  const { ca } = CertificateAuthority.generate();
  const scratch = mkdtempSync(join(tmpdir(), 'keyfleet-hsm-'));
  const members: TestMember[] = [];
  for (let i = 1; i <= size; i++) {
    members.push(await provisionMember(ca, fleetId, `backups-dc${i}`, `dc${i}`, scratch, o.extra));
  }
  if (o.distribute !== false) {
    const [first, ...rest] = members;
    await first!.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    for (const m of rest) {
      await m.hsm.importFleetSecret(
        FLEET_SECRET_SLOT,
        first!.hsm.exportFleetSecret(FLEET_SECRET_SLOT, m.certificate),
      );
    }
  }
  return {
    fleetId,
    ca,
    members,
    scratch,
    async cleanup() {
      for (const m of members) await m.hsm.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** A certificate the test forges for `member` under `ca` for keys nobody's HSM holds. */
export function forgedCertificate(
  ca: CertificateAuthority,
  fleetId: string,
  member: string,
  notAfter = Math.floor(TEST_EPOCH_MS / 1000) + 1000,
) {
  const identity = generateKeyPairSync('ed25519').privateKey;
  const request = {
    subject: { fleet: fleetId, member, zone: 'dc9' },
    identityPublicKey: rawPublicKey(identity),
    agreementPublicKey: rawPublicKey(generateKeyPairSync('x25519').privateKey),
  };
  const csr = encodeCertificateRequest(
    request,
    signWithPurpose(identity, Purpose.certificateRequest, certificateRequestTbs(request)),
  );
  return ca.issue(csr, {
    expect: request.subject,
    notBefore: Math.floor(TEST_EPOCH_MS / 1000) - 10,
    notAfter,
  });
}
