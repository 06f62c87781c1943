// Operator-wide settings the builders need that are not part of a VaultFleet's spec: they belong to
// the installation (Helm values), not to one fleet.

export interface LabelSelectorTerm {
  /** Namespaces whose pods match, by namespace labels; absent means the fleet's own namespace. */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  /** Pods that match, by pod labels; `{}` means every pod. */
  readonly podLabels: Readonly<Record<string, string>>;
}

export interface SpecOptions {
  /** Cluster DNS domain of member peer URLs. */
  readonly clusterDomain: string;
  /**
   * Who may reach the client port. Default: every pod in the fleet's namespace. Set it to admit an
   * ingress controller's or an API gateway's pods instead (or as well: several terms are ORed).
   */
  readonly clientPeers: readonly LabelSelectorTerm[];
  /** The operator's pods, the only callers of the admin port besides the kubelet. */
  readonly operatorPeers: LabelSelectorTerm;
  /** Namespace whose pods (Prometheus) may scrape the metrics port; none when absent. */
  readonly monitoringNamespace?: string;
  /** The cluster DNS pods members may query (egress port 53). */
  readonly dnsPeers: LabelSelectorTerm;
  /** How long a stopping member may wait in preStop for the rest to hold quorum without it. */
  readonly terminationGracePeriodSeconds: number;
}

export const DEFAULT_SPEC_OPTIONS: SpecOptions = {
  clusterDomain: 'cluster.local',
  clientPeers: [{ podLabels: {} }],
  operatorPeers: {
    namespaceLabels: { 'kubernetes.io/metadata.name': 'keyfleet-system' },
    podLabels: { 'app.kubernetes.io/name': 'keyfleet-operator' },
  },
  monitoringNamespace: 'monitoring',
  dnsPeers: {
    namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
    podLabels: { 'k8s-app': 'kube-dns' },
  },
  terminationGracePeriodSeconds: 60,
};
