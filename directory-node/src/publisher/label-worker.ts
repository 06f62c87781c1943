// Worker thread body for WorkerLabelDeriver: derives VRF node labels for the jobs it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import { deriveNodeLabel } from '@keyfleet/sdk/akd/vrf-labels';
import { vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import type { WorkerJob, WorkerResult } from './labels.ts';

const key = vrfSecretKey((workerData as { secret: Uint8Array }).secret);

parentPort?.on('message', (job: WorkerJob) => {
  let reply: WorkerResult;
  try {
    const labels = new Uint8Array(job.requests.length * 32);
    job.requests.forEach((r, i) => {
      labels.set(deriveNodeLabel(key, r.u, r.f === 1 ? 'fresh' : 'stale', r.v).labelVal, i * 32);
    });
    reply = { id: job.id, labels };
  } catch (e) {
    reply = { id: job.id, error: (e as Error).message };
  }
  parentPort?.postMessage(reply);
});
