// Identifier syntax shared by certificates, HSM slots, escrow and the Raft log. Kept ASCII and
// narrow on purpose: they are length-prefixed into signed bytes and used in file names.

/** A fleet: e.g. `vaults/backups` or `vaults/backups/<uid>` (the operator chooses). */
export const FLEET_ID_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._:/-]{0,125}[A-Za-z0-9])?$/;
/** A member: DNS-label-like, the same rule as the Raft log's member ids. */
export const MEMBER_ID_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
/** A zone: a Kubernetes label value (topology.kubernetes.io/zone). */
export const ZONE_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** An HSM key slot name; also a file name. */
export const SLOT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function assertId(value: unknown, pattern: RegExp, what: string): asserts value is string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new TypeError(`${what} ${JSON.stringify(value)} is not valid: expected ${pattern}`);
  }
}
