// Write API of the publisher: POST /v1/changes queues a change durably, idempotent by requestId;
// GET /v1/changes/pending says how many wait for the next epoch.
import { Router } from 'express';
import type { DirectoryMetrics } from '../metrics.ts';
import type { DirectoryStorage } from '../storage/types.ts';
import { HttpError } from './http.ts';
import { changeBody } from './validate.ts';

export type ChangesDeps = {
  readonly storage: DirectoryStorage;
  readonly maxQueueDepth: number;
  readonly metrics?: DirectoryMetrics;
};

export function changesRouter(d: ChangesDeps): Router {
  const r = Router();
  r.post('/v1/changes', async (req, res) => {
    if (!req.is('application/json'))
      throw new HttpError(415, 'unsupported_media_type', 'send application/json');
    const change = changeBody(req.body);
    const result = await d.storage.enqueue(change, d.maxQueueDepth);
    switch (result.status) {
      case 'queued':
        d.metrics?.queueDepth.inc();
        res.status(202).json({ status: 'queued', seq: result.seq });
        return;
      case 'duplicate':
        res.status(200).json({ status: 'duplicate', seq: result.seq });
        return;
      case 'conflict':
        throw new HttpError(
          409,
          'request_id_reused',
          'this requestId was already used for a different change',
        );
      case 'full':
        res.setHeader('Retry-After', '5');
        throw new HttpError(503, 'queue_full', 'the change queue is full; retry later');
    }
  });
  // How many accepted changes wait for an epoch: the operator reports it as status.pendingChanges.
  r.get('/v1/changes/pending', async (_req, res) => {
    res.json({ pending: await d.storage.queueDepth() });
  });
  return r;
}
