// The HSM certificates the operator issued to the fleet's members, kept where the attestation can
// read them: the ConfigMap `<fleet>-member-certificates`, one data key per member id (base64url of
// the certificate; certificates are public). Each member's entry is applied by a field manager of
// its own, so recording one member's certificate never removes another's, and a re-provisioned
// member's new certificate replaces its old one. The attestation trusts an entry only when it is
// for the member id, zone and HSM key the member reports (attestation-inputs.ts).

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { fleetLabels, fleetName, ownedMeta } from '../../specs/labels.ts';
import { memberCertificatesName } from '../../specs/names.ts';

const MAX_CERTIFICATE_TEXT = 2048;

export function memberCertificateFieldManager(memberId: string): string {
  return `keyfleet-certificate-${memberId}`;
}

export function memberCertificatePatch(
  fleet: VaultFleet,
  memberId: string,
  certificate: Uint8Array,
): V1ConfigMap {
  const name = memberCertificatesName(fleetName(fleet));
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(fleet, name, fleetLabels(fleet, 'member-certificates')),
    data: { [memberId]: Buffer.from(certificate).toString('base64url') },
  };
}

/** Member id -> certificate bytes; entries that are not base64url of a sane size are left out. */
export function readMemberCertificates(cm: V1ConfigMap | undefined): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [id, text] of Object.entries(cm?.data ?? {})) {
    if (text.length > MAX_CERTIFICATE_TEXT || !/^[A-Za-z0-9_-]+$/.test(text)) continue;
    out.set(id, new Uint8Array(Buffer.from(text, 'base64url')));
  }
  return out;
}
