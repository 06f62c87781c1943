// The NetworkPolicy around a fleet's members. Everything not listed is refused, in both directions.
//
// ingress  peer port     from the fleet's own members only
//          client port   from SpecOptions.clientPeers (default: any pod in the fleet's namespace;
//                        point it at an ingress controller or gateway to narrow it)
//          admin port    from the operator's pods (signed admin calls). The kubelet's probes and
//                        preStop hook come from the node, which NetworkPolicy does not govern.
//          metrics port  from any pod in SpecOptions.monitoringNamespace, when set
// egress   peer port to the fleet's members, and DNS (port 53) to the cluster DNS pods. Nothing
//          else: a member never calls the Kubernetes API or anything outside its fleet.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type {
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicySpec,
} from '@kubernetes/client-node';
import { fleetLabels, fleetName, membersSelector, ownedMeta } from './labels.ts';
import { networkPolicyName } from './names.ts';
import { DEFAULT_SPEC_OPTIONS, type LabelSelectorTerm, type SpecOptions } from './options.ts';
import { Port } from './vault-contract.ts';

const DNS_PORT = 53;

// @kubernetes/client-node names the ingress rule's `from` field `_from` (a reserved word in its
// generator) and renames it only inside its own serializer. Our client sends objects as plain JSON,
// so this builder returns the wire shape: `from`, as the API server expects it.
export type IngressRule = Omit<V1NetworkPolicyIngressRule, '_from'> & { from?: V1NetworkPolicyPeer[] };
export type NetworkPolicy = Omit<V1NetworkPolicy, 'spec'> & {
  spec: Omit<V1NetworkPolicySpec, 'ingress'> & { ingress: IngressRule[] };
};

function peer(term: LabelSelectorTerm): V1NetworkPolicyPeer {
  const p: V1NetworkPolicyPeer = { podSelector: { matchLabels: { ...term.podLabels } } };
  if (term.namespaceLabels !== undefined) p.namespaceSelector = { matchLabels: { ...term.namespaceLabels } };
  return p;
}

function tcp(port: number) {
  return { protocol: 'TCP', port };
}

export function memberNetworkPolicy(
  fleet: VaultFleet,
  options: SpecOptions = DEFAULT_SPEC_OPTIONS,
): NetworkPolicy {
  const members: V1NetworkPolicyPeer = { podSelector: { matchLabels: membersSelector(fleet) } };
  const ingress: IngressRule[] = [
    { from: [members], ports: [tcp(Port.peer)] },
    { from: options.clientPeers.map(peer), ports: [tcp(Port.client)] },
    { from: [peer(options.operatorPeers)], ports: [tcp(Port.admin)] },
  ];
  if (options.monitoringNamespace !== undefined) {
    ingress.push({
      from: [
        peer({
          namespaceLabels: { 'kubernetes.io/metadata.name': options.monitoringNamespace },
          podLabels: {},
        }),
      ],
      ports: [tcp(Port.metrics)],
    });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMeta(fleet, networkPolicyName(fleetName(fleet)), fleetLabels(fleet, 'network-policy')),
    spec: {
      podSelector: { matchLabels: membersSelector(fleet) },
      policyTypes: ['Ingress', 'Egress'],
      ingress,
      egress: [
        { to: [members], ports: [tcp(Port.peer)] },
        {
          to: [peer(options.dnsPeers)],
          ports: [
            { protocol: 'UDP', port: DNS_PORT },
            { protocol: 'TCP', port: DNS_PORT },
          ],
        },
      ],
    },
  };
}
