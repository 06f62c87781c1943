// The JSON form of a signed epoch head that readers serve (type and format from the sdk).
import { decodeEpochHead } from '@keyfleet/sdk/directory/epoch-head';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import { bytesToHex } from '@noble/hashes/utils.js';

export function epochHeadJson(bytes: Uint8Array, signature: Uint8Array): EpochHeadJson {
  const h = decodeEpochHead(bytes);
  return {
    namespace: h.namespace,
    epoch: h.epoch,
    rootHash: bytesToHex(h.rootHash),
    previousRootHash: bytesToHex(h.previousRootHash),
    timestamp: h.timestamp,
    head: Buffer.from(bytes).toString('base64url'),
    signature: Buffer.from(signature).toString('base64url'),
  };
}
