// Opens this member's software HSM from the contract's files: the sealing key (refused when others
// can read it), the manufacturer CA key (the trust anchor for every peer certificate), and makes
// sure the identity and agreement keys exist (generated inside the HSM on first start).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { VaultConfig } from '../config.ts';
import { AGREEMENT_SLOT, FLEET_SECRET_SLOT, IDENTITY_SLOT, SoftwareHsm } from '../hsm/index.ts';

export function readHexKey(file: string, what: string): Uint8Array {
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${what} (${file}) must be 64 lowercase hex characters`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Maximum keys in a bundle: a CA rotation needs two; more is a configuration mistake. */
const MAX_BUNDLE_KEYS = 8;

/**
 * A bundle of Ed25519 public keys, one per line as 64 lowercase hex characters: the manufacturer
 * CA keys a member trusts (one normally; the old and the new during a CA rotation).
 */
export function readHexKeyBundle(file: string, what: string): Uint8Array[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0 || lines.length > MAX_BUNDLE_KEYS)
    throw new Error(`${what} (${file}) must hold 1 to ${MAX_BUNDLE_KEYS} keys, one per line`);
  return lines.map((l, i) => {
    if (!/^[0-9a-f]{64}$/.test(l))
      throw new Error(`${what} (${file}) line ${i + 1} must be 64 lowercase hex characters`);
    return new Uint8Array(Buffer.from(l, 'hex'));
  });
}

/** The sealing key must not be readable by "others" (the Secret volume gives 0440 root:65532). */
export function checkSealingKeyFile(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o007) {
    throw new Error(
      `the sealing key file ${file} is readable by others (mode ${mode.toString(8)}); refusing to start`,
    );
  }
}

export async function openMemberHsm(config: VaultConfig): Promise<SoftwareHsm> {
  checkSealingKeyFile(config.sealingKeyFile);
  const hsm = await SoftwareHsm.open({
    dir: join(config.dataDir, 'hsm'),
    wrappingKeyFile: config.sealingKeyFile,
    fleetId: config.fleetId,
    memberId: config.memberId,
    trustAnchors: readHexKeyBundle(config.manufacturerCaFile, 'the manufacturer CA keys'),
  });
  const slots = new Set(hsm.slots().map((s) => s.name));
  if (!slots.has(IDENTITY_SLOT)) await hsm.generate(IDENTITY_SLOT, 'ed25519');
  if (!slots.has(AGREEMENT_SLOT)) await hsm.generate(AGREEMENT_SLOT, 'x25519');
  return hsm;
}

export function hasFleetSecret(hsm: SoftwareHsm): boolean {
  return hsm.slots().some((s) => s.name === FLEET_SECRET_SLOT);
}
