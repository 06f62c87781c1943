// The two Services of a fleet.
//
// peers: headless, and publishes members that are not ready, because members become ready only
// once they are in a committed quorum; without it they could never find each other to form one.
// Each member's DNS name <pod>.<fleet>-peers.<ns>.svc.<domain> comes from its hostname/subdomain.
//
// client: a ClusterIP in front of the escrow API of ready members only (ready = in a committed
// quorum and caught up, VAULT_CONTRACT.md), so clients never reach a member that cannot serve.

import type { VaultFleet } from '@keyfleet/sdk/api/index';
import type { V1Service, V1ServiceSpec } from '@kubernetes/client-node';
import { fleetLabels, fleetName, membersSelector, ownedMeta } from './labels.ts';
import { clientServiceName, peerServiceName } from './names.ts';
import { Port, PortName } from './vault-contract.ts';

function service(
  fleet: VaultFleet,
  name: string,
  component: 'peers' | 'client',
  spec: V1ServiceSpec,
): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(fleet, name, fleetLabels(fleet, component)),
    spec: { ...spec, selector: membersSelector(fleet) },
  };
}

export function peerService(fleet: VaultFleet): V1Service {
  return service(fleet, peerServiceName(fleetName(fleet)), 'peers', {
    clusterIP: 'None',
    publishNotReadyAddresses: true,
    ports: [{ name: PortName.peer, port: Port.peer, targetPort: PortName.peer, protocol: 'TCP' }],
  });
}

export function clientService(fleet: VaultFleet): V1Service {
  return service(fleet, clientServiceName(fleetName(fleet)), 'client', {
    type: 'ClusterIP',
    publishNotReadyAddresses: false,
    ports: [{ name: PortName.client, port: Port.client, targetPort: PortName.client, protocol: 'TCP' }],
  });
}
