// Fault injection and pod inspection from TypeScript: a client of the node agent's control socket.
import { request } from 'node:http';
import { paths } from './config.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AgentPod {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string;
  netns: string;
  pids: number[];
  logs: Record<string, string>;
}

export interface AgentStatus {
  nodes: { name: string; stopped: boolean }[];
  faults: { partitionedZones: string[]; isolatedIps: string[] };
  pods: AgentPod[];
}

export function agentCall<T>(method: string, path: string, body?: unknown, timeoutMs = 150_000): Promise<T> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: paths.agentSocket,
        method,
        path,
        headers: { 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => {
          const parsed = text ? (JSON.parse(text) as unknown) : {};
          if ((res.statusCode ?? 500) >= 300) {
            const err = (parsed as { error?: { message?: string } }).error;
            reject(new Error(`node agent ${method} ${path}: ${err?.message ?? text}`));
          } else resolve(parsed as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`node agent ${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The fault-injection API of the cluster tier (issue 4). Zones are dc1..dc7. */
export const faults = {
  /** SIGKILL every container of the pod (a crash); the restart policy brings them back. */
  killPod: (namespace: string, pod: string) => agentCall('POST', '/pods/kill', { namespace, pod }),
  /** Cut the zone's pods off from every other zone's pods (both directions); the node stays Ready. */
  partitionZone: (zone: string) => agentCall('POST', '/faults/partition', { zone }),
  /** Heal one zone's partition, or every partition and isolation when no zone is given. */
  heal: (zone?: string) => agentCall('POST', '/faults/heal', zone ? { zone } : {}),
  /** Cut one pod off from all pod traffic and from opening connections to the control plane. */
  isolatePod: (namespace: string, pod: string) => agentCall('POST', '/faults/isolate', { namespace, pod }),
  unisolatePod: (namespace: string, pod: string) =>
    agentCall('POST', '/faults/unisolate', { namespace, pod }),
  /** The zone's node stops: no heartbeats (NotReady after the grace period), its pods killed. */
  stopNode: (zone: string) => agentCall('POST', '/nodes/stop', { zone }),
  /** The zone's node comes back: Ready again, pods still bound to it restart. */
  restartNode: (zone: string) => agentCall('POST', '/nodes/start', { zone }),
  /** Runs argv inside a pod's container (its network and mount namespaces). */
  exec: (namespace: string, pod: string, argv: string[], container?: string, timeoutMs?: number) =>
    agentCall<ExecResult>('POST', '/exec', { namespace, pod, argv, container, timeoutMs }),
  status: () => agentCall<AgentStatus>('GET', '/status'),
};
