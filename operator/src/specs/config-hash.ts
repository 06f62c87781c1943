// The hash of a member's configuration that can only change by restarting the member. The pod
// builder stores it in an annotation; the rollout compares a running member's annotation with the
// hash of the current spec to tell an out-of-date member. Pods are compared by this hash and not
// field by field because the API server fills in defaults that would always look like a change.
//
// Deliberately left out: the fleet's zone list (KEYFLEET_INITIAL_MEMBERS is read only when a fleet
// forms, and peers are found by a URL template), so scaling never restarts the existing members.

import type { VaultFleetSpec } from '@keyfleet/sdk/api/index';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * Bump when the pod builder changes in a way running members must pick up (a new flag, a new
 * mount): every member then rolls, one at a time, like for an image change.
 */
export const POD_TEMPLATE_VERSION = 1;

function sortedQuantities(q: Record<string, number | string> | undefined): Array<[string, string]> {
  return Object.entries(q ?? {})
    .map(([k, v]): [string, string] => [k, String(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The fields that make up the hash, in a fixed order (also what an Event can show as a diff). */
export function restartRelevantConfig(spec: VaultFleetSpec): Record<string, unknown> {
  return {
    template: POD_TEMPLATE_VERSION,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    guessLimit: spec.guessLimit,
    requests: sortedQuantities(spec.resources?.requests),
    limits: sortedQuantities(spec.resources?.limits),
  };
}

/** `sha256:<hex>` over the canonical JSON of restartRelevantConfig(spec). */
export function memberConfigHash(spec: VaultFleetSpec): string {
  return `sha256:${bytesToHex(sha256(utf8ToBytes(JSON.stringify(restartRelevantConfig(spec)))))}`;
}
