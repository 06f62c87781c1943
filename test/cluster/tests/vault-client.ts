// A vault client as the cluster tests build one: it trusts the member identity keys whose
// certificates (served on each member's peer port) chain to the fleet's manufacturer CA.
import { trustedMembersFromCertificates } from '@keyfleet/sdk/hsm/certificate';
import type { PodObj } from './helpers.ts';

/**
 * The members' identity keys, from the certificates they serve on the peer port: the client pins
 * the keys that chain to the fleet's CA (what the fleet attestation will carry).
 */
export async function memberKeys(
  pods: PodObj[],
  caPublicKey: Uint8Array,
  fleetId: string,
): Promise<Map<string, Uint8Array>> {
  // A member stopping right now may not answer: trust the others (only the answering member's key
  // is needed, and it answers only if it is up).
  const answers = await Promise.allSettled(
    pods.map(async (p) => {
      const res = await fetch(`http://${p.status?.podIP}:7000/v1/fleet/identity`, {
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) throw new Error(`${p.metadata.name}: identity HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }),
  );
  const certificates = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  return trustedMembersFromCertificates(certificates, {
    trustAnchors: [caPublicKey],
    now: Math.floor(Date.now() / 1000),
    fleet: fleetId,
  });
}
