// The RBAC the chart is meant to grant, as data: one line per API group/resource with its verbs.
// The chart's rbac.yaml says why each verb is needed; a change there must be made here too, on
// purpose, so a widened permission cannot slip in with an unrelated edit.

type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[]; nonResourceURLs?: string[] };

/** Flattens PolicyRules into `group/resource` -> sorted verbs (the same grant written any way compares equal). */
export function grants(rules: readonly Rule[]): Record<string, string> {
  const out: Record<string, Set<string>> = {};
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group === '' ? 'core' : group}/${resource}`;
        out[key] ??= new Set();
        for (const verb of rule.verbs ?? []) out[key].add(verb);
      }
    }
  }
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, verbs]) => [key, [...verbs].sort().join(',')]),
  );
}

const manage = 'create,delete,get,list,patch,watch';

/** What the operator may do to the workloads of the namespaces it manages (ClusterRole or per-namespace Role). */
export const workloadGrants: Record<string, string> = {
  'apps/deployments': manage,
  'apps/statefulsets': manage,
  'coordination.k8s.io/leases': 'create,delete,get,list,patch,update,watch',
  'core/configmaps': manage,
  'core/events': 'create,patch',
  'core/persistentvolumeclaims': manage,
  'core/pods': manage,
  'core/secrets': manage,
  'core/serviceaccounts': manage,
  'core/services': manage,
  'events.k8s.io/events': 'create,patch',
  'keyfleet.dev/keydirectories': 'get,list,patch,update,watch',
  'keyfleet.dev/keydirectories/finalizers': 'update',
  'keyfleet.dev/keydirectories/status': 'get,patch,update',
  'keyfleet.dev/vaultfleets': 'get,list,patch,update,watch',
  'keyfleet.dev/vaultfleets/finalizers': 'update',
  'keyfleet.dev/vaultfleets/status': 'get,patch,update',
  'networking.k8s.io/networkpolicies': manage,
  'policy/poddisruptionbudgets': manage,
  'rbac.authorization.k8s.io/rolebindings': manage,
  'rbac.authorization.k8s.io/roles': manage,
};

/** Cluster-wide in every configuration: Nodes are not namespaced. */
export const nodeGrants: Record<string, string> = { 'core/nodes': 'get,list,watch' };

/** The operator's own leader-election Lease (create, then get/update to renew and release) and its Events. */
export const leaderElectionGrants: Record<string, string> = {
  'coordination.k8s.io/leases': 'create,get,update',
  'core/events': 'create,patch',
  'events.k8s.io/events': 'create,patch',
};
