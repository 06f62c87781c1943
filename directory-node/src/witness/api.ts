// The witness's HTTP API, shaped like Plexi's: /info, /namespaces, /namespaces/{ns},
// /namespaces/{ns}/audits/{epoch}.
import { bytesToHex } from '@noble/hashes/utils.js';
import { Router } from 'express';
import { notFound } from '../api/http.ts';
import { epochNumber } from '../api/validate.ts';
import { CIPHERSUITE_NAME } from './countersignature.ts';
import type { Witness } from './witness.ts';

export function witnessRouter(d: { namespace: string; publicKey: Uint8Array; witness: Witness }): Router {
  const r = Router();
  const nsJson = () => {
    const st = d.witness.state();
    return {
      name: d.namespace,
      status: st.refusal === undefined ? 'online' : 'halted',
      lastVerifiedEpoch: st.epoch,
      rootHash: bytesToHex(st.rootHash),
      ...(st.refusal === undefined ? {} : { refusal: { epoch: st.refusedEpoch, reason: st.refusal } }),
    };
  };
  r.get('/info', (_req, res) => {
    res.json({
      ciphersuite: CIPHERSUITE_NAME,
      publicKey: bytesToHex(d.publicKey),
      version: 'keyfleet-witness/1',
    });
  });
  r.get('/namespaces', (_req, res) => {
    res.json({ namespaces: [nsJson()] });
  });
  r.get('/namespaces/:ns', (req, res) => {
    if (req.params.ns !== d.namespace) throw notFound('unknown namespace');
    res.json(nsJson());
  });
  r.get('/namespaces/:ns/audits/:epoch', (req, res) => {
    if (req.params.ns !== d.namespace) throw notFound('unknown namespace');
    const epoch = epochNumber(req.params.epoch);
    const sig = d.witness.countersignature(epoch);
    if (sig === undefined) throw notFound(`epoch ${epoch} has not been countersigned`);
    res.json({
      ciphersuite: CIPHERSUITE_NAME,
      namespace: d.namespace,
      timestamp: sig.timestamp,
      epoch: sig.epoch,
      digest: bytesToHex(sig.rootHash),
      message: Buffer.from(sig.message).toString('base64url'),
      signature: Buffer.from(sig.signature).toString('base64url'),
    });
  });
  return r;
}
