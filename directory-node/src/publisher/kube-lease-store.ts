// The Lease the writer lock uses, read and written over the Kubernetes REST API with the pod's
// ServiceAccount token (re-read on every call: kubelets rotate projected tokens) and the cluster
// CA. Two calls only: GET and PUT of one named Lease, which is all the publisher's Role allows.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { LeaseRecord, LeaseStore, LeaseWrite } from './lease-lock.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const MAX_RESPONSE_BYTES = 64 * 1024;
const TIMEOUT_MS = 5_000;

export type KubeLeaseStoreOptions = {
  readonly namespace: string;
  readonly name: string;
  /** https://host:port of the API server; default from KUBERNETES_SERVICE_HOST/PORT. */
  readonly server?: string;
  readonly tokenFile?: string;
  readonly caFile?: string;
};

type LeaseObject = {
  metadata?: { resourceVersion?: string; name?: string; namespace?: string };
  spec?: Omit<LeaseRecord, 'resourceVersion'>;
};

export function inClusterServer(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host) throw new Error('not running in a pod: KUBERNETES_SERVICE_HOST is not set');
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function toRecord(obj: LeaseObject): LeaseRecord {
  const resourceVersion = obj.metadata?.resourceVersion;
  if (typeof resourceVersion !== 'string') throw new Error('Lease without metadata.resourceVersion');
  return { ...(obj.spec ?? {}), resourceVersion };
}

export class KubeLeaseStore implements LeaseStore {
  readonly #path: string;
  readonly #server: URL;
  readonly #tokenFile: string;
  readonly #ca: Buffer;
  readonly #namespace: string;
  readonly #name: string;

  constructor(o: KubeLeaseStoreOptions) {
    this.#namespace = o.namespace;
    this.#name = o.name;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases/${encodeURIComponent(o.name)}`;
    this.#server = new URL(o.server ?? inClusterServer());
    this.#tokenFile = o.tokenFile ?? `${SERVICE_ACCOUNT_DIR}/token`;
    this.#ca = readFileSync(o.caFile ?? `${SERVICE_ACCOUNT_DIR}/ca.crt`);
  }

  async get(): Promise<LeaseRecord> {
    const { status, body } = await this.#call('GET');
    if (status !== 200)
      throw new Error(`GET Lease ${this.#namespace}/${this.#name}: HTTP ${status} ${body.slice(0, 200)}`);
    return toRecord(JSON.parse(body) as LeaseObject);
  }

  async update(write: LeaseWrite, resourceVersion: string): Promise<LeaseRecord | 'conflict'> {
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#name, namespace: this.#namespace, resourceVersion },
      spec: write,
    };
    const { status, body } = await this.#call('PUT', JSON.stringify(lease));
    if (status === 409) return 'conflict';
    if (status !== 200)
      throw new Error(`PUT Lease ${this.#namespace}/${this.#name}: HTTP ${status} ${body.slice(0, 200)}`);
    return toRecord(JSON.parse(body) as LeaseObject);
  }

  #call(method: 'GET' | 'PUT', body?: string): Promise<{ status: number; body: string }> {
    const token = readFileSync(this.#tokenFile, 'utf8').trim();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          host: this.#server.hostname.replace(/^\[|\]$/g, ''),
          port: this.#server.port || 443,
          path: this.#path,
          ca: this.#ca,
          timeout: TIMEOUT_MS,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('Lease response too large'));
            else chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`Lease ${method} timed out after ${TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
