// The publisher's writer lock when it runs in a pod: the Lease the operator created for the
// directory (`--writer-lease <name>`), in the pod's namespace. Losing it ends the process (exit 1),
// as client-go's leader election does: the pod restarts as a standby, and nothing that assumed
// it was the writer keeps running.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Log } from '../log.ts';
import { KubeLeaseStore } from './kube-lease-store.ts';
import { LeaseWriterLock } from './lease-lock.ts';

const NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function podNamespace(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['POD_NAMESPACE'];
  if (fromEnv) return fromEnv;
  if (existsSync(NAMESPACE_FILE)) return readFileSync(NAMESPACE_FILE, 'utf8').trim();
  throw new Error('--writer-lease needs POD_NAMESPACE or a ServiceAccount namespace file');
}

export function kubernetesWriterLock(leaseName: string, log: Log, env = process.env): LeaseWriterLock {
  const identity = `${env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  return new LeaseWriterLock({
    store: new KubeLeaseStore({ namespace: podNamespace(env), name: leaseName }),
    identity,
    log,
    onLost: (reason) => {
      log('writer.lost', { reason, action: 'exit so the pod restarts as a standby' });
      process.exit(1);
    },
  });
}
