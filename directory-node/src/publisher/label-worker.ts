// Worker thread body for WorkerLabelDeriver: derives VRF node labels for the jobs it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import { vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import { InlineLabelDeriver, type WorkerJob, type WorkerResult } from './labels.ts';

const data = workerData as { secret: Uint8Array };
const deriver = new InlineLabelDeriver(vrfSecretKey(data.secret));

parentPort?.on('message', async (job: WorkerJob) => {
  let reply: WorkerResult;
  try {
    const derived = await deriver.derive(
      job.requests.map((r) => ({ username: r.u, freshness: r.f === 1 ? 'fresh' : 'stale', version: r.v })),
    );
    const labels = new Uint8Array(derived.length * 32);
    for (const [i, l] of derived.entries()) labels.set(l.labelVal, i * 32);
    reply = { id: job.id, labels };
  } catch (e) {
    reply = { id: job.id, error: (e as Error).message };
  }
  parentPort?.postMessage(reply);
});
