import { verifyCertificate } from '@keyfleet/sdk/hsm/certificate';
import type { V1Secret } from '@kubernetes/client-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { testFleet } from '../../specs/test-fleet.ts';
import { DataKey } from '../../specs/vault-contract.ts';
import { signedCertificateRequest } from './fake-members.ts';
import type { AdminCaller } from './member-admin.ts';
import { ensureFleetKeys, fleetTrustBundle, provisionMemberIdentity, readKeySecret } from './provisioning.ts';

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

function memoryStore() {
  const secrets = new Map<string, V1Secret>();
  return {
    secrets,
    get: async (name: string) => secrets.get(name),
    createIfAbsent: async (s: V1Secret) => {
      const name = s.metadata?.name as string;
      if (!secrets.has(name)) secrets.set(name, s);
      return secrets.get(name) as V1Secret;
    },
  };
}

/** A member HSM that asks to be certified as `subject`. */
function member(subject: { fleet: string; member: string; zone: string }) {
  const identitySeed = random(32);
  const installed: string[] = [];
  const caller: AdminCaller = {
    call: async <T>(method: string, _path: string, body?: unknown): Promise<T> => {
      if (method === 'POST') {
        installed.push((body as { certificate: string }).certificate);
        return { status: 'ok' } as T;
      }
      return { request: signedCertificateRequest(subject, identitySeed, random(32)) } as T;
    },
  };
  return { caller, installed };
}

describe('fleet keys and member identity provisioning', () => {
  it('generates the CA and admin key once and reads them back unchanged afterwards', async () => {
    const store = memoryStore();
    const first = await ensureFleetKeys(testFleet(), store, random);
    expect(first.created).toEqual(['backups-manufacturer-ca', 'backups-operator-admin-key']);
    const again = await ensureFleetKeys(testFleet(), store, random);
    expect(again.created).toEqual([]);
    expect(again.keys).toEqual(first.keys);
    const bundle = fleetTrustBundle(testFleet(), first.keys);
    expect(hexToBytes(bundle.data?.[DataKey.manufacturerCaPublicKey] as string)).toEqual(
      ed25519.getPublicKey(first.keys.manufacturerCaSeed),
    );
  });

  it('refuses a key Secret whose public half does not match its seed', async () => {
    const store = memoryStore();
    await ensureFleetKeys(testFleet(), store, random);
    const ca = store.secrets.get('backups-manufacturer-ca') as V1Secret;
    const tampered: V1Secret = {
      ...ca,
      data: { ...ca.data, [DataKey.manufacturerCaPublicKey]: Buffer.from(random(32)).toString('base64') },
    };
    expect(() =>
      readKeySecret(tampered, DataKey.manufacturerCaSeed, DataKey.manufacturerCaPublicKey),
    ).toThrow(/is not the public key/);
  });

  it('certifies a member for exactly its fleet, member id and zone', async () => {
    const { keys } = await ensureFleetKeys(testFleet(), memoryStore(), random);
    const m = member({ fleet: 'vaults/backups', member: 'backups-dc2', zone: 'dc2' });
    const now = new Date();
    const cert = await provisionMemberIdentity(
      testFleet(),
      { zone: 'dc2', memberId: 'backups-dc2' },
      m.caller,
      keys,
      now,
    );
    expect(m.installed).toEqual([Buffer.from(cert).toString('base64url')]);
    const verified = verifyCertificate(cert, {
      trustAnchors: [ed25519.getPublicKey(keys.manufacturerCaSeed)],
      now: Math.floor(now.getTime() / 1000),
      fleet: 'vaults/backups',
      member: 'backups-dc2',
    });
    expect(verified.subject.zone).toBe('dc2');
  });

  it('signs nothing for a member that asks to be someone else', async () => {
    const { keys } = await ensureFleetKeys(testFleet(), memoryStore(), random);
    const impostor = member({ fleet: 'vaults/backups', member: 'backups-dc1', zone: 'dc1' });
    await expect(
      provisionMemberIdentity(
        testFleet(),
        { zone: 'dc2', memberId: 'backups-dc2' },
        impostor.caller,
        keys,
        new Date(),
      ),
    ).rejects.toThrow(/member/);
    expect(impostor.installed).toEqual([]);
  });
});
