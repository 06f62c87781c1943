// Status conditions of every controller: a computed condition replaces its previous version and
// keeps that version's lastTransitionTime while its status is the same, so a condition says since
// when it has been what it is; conditions of types this pass did not compute are kept as they are
// (another part of the operator owns them). The clock is a parameter.

export interface StampedCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type UnstampedCondition = Omit<StampedCondition, 'lastTransitionTime'>;

/** RFC 3339 with whole seconds, as Kubernetes writes metav1.Time. */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function stampConditions(
  previous: readonly StampedCondition[] | undefined,
  computed: readonly UnstampedCondition[],
  now: () => Date,
): StampedCondition[] {
  const old = new Map((previous ?? []).map((c) => [c.type, c]));
  const stamped = computed.map((c): StampedCondition => {
    const before = old.get(c.type);
    const lastTransitionTime =
      before !== undefined && before.status === c.status ? before.lastTransitionTime : kubeTime(now());
    return { ...c, lastTransitionTime };
  });
  const types = new Set(computed.map((c) => c.type));
  return [...stamped, ...(previous ?? []).filter((c) => !types.has(c.type))];
}
