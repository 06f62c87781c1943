// Read API: lookups, key histories, signed epoch heads and audit blobs, always at the latest
// published epoch of one storage snapshot.
import { encodeHistoryProof, encodeLookupProof } from '@keyfleet/sdk/akd/codec';
import type { HistoryParams } from '@keyfleet/sdk/akd/types';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Router } from 'express';
import type { VrfKeys } from '../keys.ts';
import type { DirectoryMetrics } from '../metrics.ts';
import { historyProof, MAX_HISTORY_VERSIONS } from '../proofs/history.ts';
import { lookupProof, NotFoundError } from '../proofs/lookup.ts';
import type { AuditStorage } from '../publisher/audit-storage.ts';
import { epochHeadJson } from '../publisher/epoch-head.ts';
import type { DirectoryStorage, EpochHead } from '../storage/types.ts';
import type { TreeHasher } from '../tree/hasher.ts';
import { HttpError, notFound } from './http.ts';
import * as v from './validate.ts';

export type ReaderDeps = {
  readonly namespace: string;
  readonly storage: DirectoryStorage;
  readonly audit: AuditStorage;
  readonly hasher: TreeHasher;
  readonly vrf: VrfKeys;
  readonly signingPublicKey: Uint8Array;
  readonly metrics?: DirectoryMetrics;
};

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const head = (r: EpochHead) => epochHeadJson(r.head, r.signature);

function onlyQuery(query: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(query)) {
    if (!allowed.includes(k))
      throw new HttpError(
        400,
        'invalid_request',
        `unknown query parameter ${JSON.stringify(k.slice(0, 64))}`,
      );
  }
}

async function orNotFound<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof NotFoundError) throw notFound(e.message);
    if (e instanceof RangeError) throw new HttpError(400, 'too_many_versions', e.message);
    throw e;
  }
}

export function readerRouter(d: ReaderDeps): Router {
  const r = Router();
  const served = (kind: string) => d.metrics?.proofsServed.inc({ kind });

  r.get('/v1/info', (_req, res) => {
    res.json({
      namespace: d.namespace,
      configuration: 'whatsapp_v1',
      vrfPublicKey: bytesToHex(d.vrf.publicKey),
      signingPublicKey: bytesToHex(d.signingPublicKey),
    });
  });

  r.get('/v1/lookup', async (req, res) => {
    onlyQuery(req.query, ['username']);
    const username = v.username(req.query.username);
    const { epoch, proof } = await orNotFound(
      d.storage.read((s) => lookupProof(s, d.hasher, d.vrf, username)),
    );
    served('lookup');
    res.json({ epoch: head(epoch), version: Number(proof.version), proof: b64url(encodeLookupProof(proof)) });
  });

  r.get('/v1/history', async (req, res) => {
    onlyQuery(req.query, ['username', 'mostRecent']);
    const username = v.username(req.query.username);
    const params: HistoryParams =
      req.query.mostRecent === undefined
        ? { kind: 'complete' }
        : { kind: 'most-recent', n: v.positiveInt(req.query.mostRecent, 'mostRecent', MAX_HISTORY_VERSIONS) };
    const { epoch, proof } = await orNotFound(
      d.storage.read((s) => historyProof(s, d.hasher, d.vrf, username, params)),
    );
    served('history');
    res.json({
      epoch: head(epoch),
      params: params.kind === 'complete' ? { kind: 'complete' } : { kind: 'most-recent', n: params.n },
      proof: b64url(encodeHistoryProof(proof)),
    });
  });

  r.get('/v1/epochs/latest', async (req, res) => {
    onlyQuery(req.query, []);
    const latest = await d.storage.read((s) => s.latestEpoch());
    if (latest === undefined) throw notFound('no epoch has been published yet');
    served('epoch');
    res.json(head(latest));
  });

  r.get('/v1/epochs/:epoch', async (req, res) => {
    onlyQuery(req.query, []);
    const n = v.epochNumber(req.params.epoch);
    const record = await d.storage.read((s) => s.epoch(n));
    if (record === undefined) throw notFound(`epoch ${n} has not been published`);
    served('epoch');
    res.json(head(record));
  });

  // The audit blob(s) stored for an epoch; only epochs already published are served.
  r.get('/v1/audit/:epoch', async (req, res) => {
    onlyQuery(req.query, []);
    const n = v.epochNumber(req.params.epoch);
    const latest = await d.storage.read((s) => s.latestEpoch());
    if (latest === undefined || n > latest.epoch) throw notFound(`epoch ${n} has not been published`);
    const refs = await d.audit.list(n);
    if (refs.length === 0) throw notFound(`no audit blob stored for epoch ${n}`);
    const blobs = [];
    for (const ref of refs) {
      const data = await d.audit.get(ref);
      if (data !== undefined) {
        blobs.push({
          name: `${ref.epoch}/${ref.previousRootHash}/${ref.rootHash}`,
          previousRootHash: ref.previousRootHash,
          rootHash: ref.rootHash,
          proof: b64url(data),
        });
      }
    }
    served('audit');
    res.json({ epoch: n, blobs });
  });

  // Raw blobs under their akd names, as a static object store would serve them.
  r.get('/audit/:epoch/:previous/:current', async (req, res) => {
    const ref = {
      epoch: v.epochNumber(req.params.epoch),
      previousRootHash: v.hex32(req.params.previous, 'previous root hash'),
      rootHash: v.hex32(req.params.current, 'root hash'),
    };
    const data = await d.audit.get(ref);
    if (data === undefined) throw notFound('no such audit blob');
    served('audit');
    res.type('application/octet-stream').send(Buffer.from(data));
  });

  return r;
}
