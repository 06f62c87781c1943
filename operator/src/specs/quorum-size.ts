// Majority arithmetic, shared by the disruption budget and the rollout decisions.

/** Members needed for a majority of `members` voters. */
export function quorumSize(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** Members the fleet can lose and still hold a majority. */
export function faultTolerance(members: number): number {
  return members === 0 ? 0 : members - quorumSize(members);
}
