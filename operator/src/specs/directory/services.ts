// The directory's Services. Clients and witnesses read through <kd> (the writer and the readers,
// both Ready only when they can serve); writes go to <kd>-publisher, whose one Ready pod is the
// Lease holder; <kd>-witness is headless, for reaching each witness by name.

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { V1Service } from '@kubernetes/client-node';
import { Label } from '../labels.ts';
import { labelValue } from '../names.ts';
import {
  componentSelector,
  DIRECTORY_APP_NAME,
  directoryMeta,
  directoryName,
  directoryNames,
  SERVES_READS_LABEL,
} from './names.ts';
import { DIRECTORY_PORT } from './workloads.ts';

const ports = [{ name: 'http', port: DIRECTORY_PORT, targetPort: 'http', protocol: 'TCP' }];

export function directoryServices(kd: KeyDirectory): V1Service[] {
  const names = directoryNames(kd);
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: directoryMeta(kd, names.readService, 'read-api'),
      spec: {
        type: 'ClusterIP',
        selector: {
          [Label.name]: DIRECTORY_APP_NAME,
          [Label.instance]: labelValue(directoryName(kd)),
          [SERVES_READS_LABEL]: 'true',
        },
        ports,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: directoryMeta(kd, names.publisher, 'publisher'),
      spec: { type: 'ClusterIP', selector: componentSelector(kd, 'publisher'), ports },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: directoryMeta(kd, names.witnessService, 'witness'),
      spec: { clusterIP: 'None', selector: componentSelector(kd, 'witness'), ports },
    },
  ];
}
