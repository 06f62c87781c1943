// Gets the fleet's OPAQUE server setup into this member's HSM. The first voter of a brand-new
// fleet generates it inside its HSM; every other member asks the members it knows, giving its own
// certificate, and receives the setup sealed to its certified agreement key (X25519 + AEAD, bound
// to fleet, sender and recipient). The setup is never in the clear outside an HSM.
import { HttpPath } from '@keyfleet/sdk/vault/contract';
import { FLEET_SECRET_SLOT, type SoftwareHsm } from '../hsm/index.ts';
import type { Logger } from '../raft/node/logger.ts';
import type { MemberId } from '../raft/types.ts';
import { hasFleetSecret } from './member-hsm.ts';

const MAX_ENVELOPE_BYTES = 16 * 1024;

export interface FleetSecretSyncOptions {
  readonly hsm: SoftwareHsm;
  /** True only for the first initial voter of a fleet bootstrapping on empty storage. */
  readonly generates: boolean;
  readonly members: () => readonly MemberId[];
  readonly urlOf: (member: MemberId) => string;
  readonly log: Logger;
  readonly retryMs?: number;
  readonly stopped: () => boolean;
}

export async function ensureFleetSecret(o: FleetSecretSyncOptions): Promise<void> {
  if (hasFleetSecret(o.hsm)) return;
  if (o.generates) {
    await o.hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    o.log('info', 'generated the fleet OPAQUE setup inside this HSM');
    return;
  }
  const certificate = o.hsm.certificate();
  if (!certificate) throw new Error('the HSM has no certificate; it cannot ask for the fleet secret');
  while (!o.stopped()) {
    for (const member of o.members()) {
      if (member === o.hsm.memberId) continue;
      try {
        const res = await fetch(o.urlOf(member) + HttpPath.peerFleetSecret, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: certificate,
          signal: AbortSignal.timeout(3000),
        });
        if (!res.ok) continue;
        const envelope = new Uint8Array(await res.arrayBuffer());
        if (envelope.length > MAX_ENVELOPE_BYTES) continue;
        await o.hsm.importFleetSecret(FLEET_SECRET_SLOT, envelope);
        o.log('info', 'received the fleet OPAQUE setup', { from: member });
        return;
      } catch (e) {
        o.log('debug', 'fleet secret not received', {
          from: member,
          reason: e instanceof Error ? e.message : String(e),
        });
      }
    }
    await new Promise((r) => setTimeout(r, o.retryMs ?? 1000));
  }
}
