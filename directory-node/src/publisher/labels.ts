// VRF label derivation for a batch. Each update costs one or two labels, each one
// variable-base scalar multiplication (the sdk's fast VRF backend: curve25519-dalek WASM if
// built, else libsodium; sdk/src/vrf/backend.ts), so the publisher spreads
// them over worker threads.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { leafLabel, type NodeLabel } from '@keyfleet/sdk/akd/label';
import { deriveNodeLabel } from '@keyfleet/sdk/akd/vrf-labels';
import type { Freshness } from '@keyfleet/sdk/akd/whatsapp-v1';
import type { VrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';

export type LabelRequest = {
  readonly username: Uint8Array;
  readonly freshness: Freshness;
  readonly version: bigint;
};

export interface LabelDeriver {
  derive(requests: readonly LabelRequest[]): Promise<NodeLabel[]>;
  close(): Promise<void>;
}

/** Labels in this thread. */
export class InlineLabelDeriver implements LabelDeriver {
  private readonly key: VrfSecretKey;
  constructor(key: VrfSecretKey) {
    this.key = key;
  }
  async derive(requests: readonly LabelRequest[]): Promise<NodeLabel[]> {
    return requests.map((r) => deriveNodeLabel(this.key, r.username, r.freshness, r.version));
  }
  async close(): Promise<void> {}
}

/** Wire format to and from a label worker. */
export type WorkerJob = { id: number; requests: { u: Uint8Array; f: 0 | 1; v: bigint }[] };
export type WorkerResult = { id: number; labels: Uint8Array } | { id: number; error: string };

/** Below this many labels a batch is derived inline: a worker round trip costs more. */
const INLINE_BELOW = 64;

export class WorkerLabelDeriver implements LabelDeriver {
  private readonly workers: Worker[];
  private readonly inline: InlineLabelDeriver;
  private readonly waiting = new Map<
    number,
    { resolve: (labels: Uint8Array) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor(secret: Uint8Array, key: VrfSecretKey, threads = Math.max(1, availableParallelism())) {
    this.inline = new InlineLabelDeriver(key);
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(new URL('./label-worker.ts', import.meta.url), {
        workerData: { secret },
      });
      w.on('message', (m: WorkerResult) => {
        const job = this.waiting.get(m.id);
        if (job === undefined) return;
        this.waiting.delete(m.id);
        if ('error' in m) job.reject(new Error(`label worker: ${m.error}`));
        else job.resolve(m.labels);
      });
      w.on('error', (e) => {
        for (const job of this.waiting.values()) job.reject(e);
        this.waiting.clear();
      });
      return w;
    });
  }

  async derive(requests: readonly LabelRequest[]): Promise<NodeLabel[]> {
    if (requests.length < INLINE_BELOW) return this.inline.derive(requests);
    const per = Math.ceil(requests.length / this.workers.length);
    const parts = this.workers.map((w, i) => {
      const slice = requests.slice(i * per, (i + 1) * per);
      if (slice.length === 0) return Promise.resolve(new Uint8Array(0));
      const id = this.nextId++;
      const job: WorkerJob = {
        id,
        requests: slice.map((r) => ({ u: r.username, f: r.freshness === 'fresh' ? 1 : 0, v: r.version })),
      };
      return new Promise<Uint8Array>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        w.postMessage(job);
      });
    });
    const out: NodeLabel[] = [];
    for (const packed of await Promise.all(parts)) {
      for (let i = 0; i < packed.length; i += 32) out.push(leafLabel(packed.subarray(i, i + 32)));
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
