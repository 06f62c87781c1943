/**
 * How the CLI states what it verified: the same facts as text for people and as JSON for
 * scripts. Binary values are hex, except a key's value, which is base64url (as the directory
 * takes it) with its SHA-256 fingerprint for comparing by eye.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { VerifiedHead, VerifiedValue } from './verify.ts';

export function headJson(head: VerifiedHead) {
  return {
    namespace: head.namespace,
    epoch: head.epoch,
    rootHash: bytesToHex(head.rootHash),
    previousRootHash: bytesToHex(head.previousRootHash),
    timestamp: new Date(head.timestamp).toISOString(),
  };
}

export function valueJson(v: VerifiedValue) {
  return {
    version: v.version,
    publishedAtEpoch: v.epoch,
    value: Buffer.from(v.value).toString('base64url'),
    valueBytes: v.value.length,
    valueSha256: bytesToHex(sha256(v.value)),
    commitment: bytesToHex(v.commitment),
  };
}

export function headLines(head: VerifiedHead): string[] {
  return [
    `  namespace      ${head.namespace}`,
    `  epoch          ${head.epoch} (signed ${new Date(head.timestamp).toISOString()})`,
    `  root           ${bytesToHex(head.rootHash)}`,
  ];
}

export function valueLines(v: VerifiedValue, indent = '  '): string[] {
  const j = valueJson(v);
  return [
    `${indent}version        ${j.version} (published at epoch ${j.publishedAtEpoch})`,
    `${indent}value          ${j.value} (${j.valueBytes} bytes)`,
    `${indent}value sha256   ${j.valueSha256}`,
    `${indent}commitment     ${j.commitment}`,
  ];
}

export function keysLines(signingPublicKey: Uint8Array, vrfPublicKey: Uint8Array): string[] {
  return [`  signing key    ${bytesToHex(signingPublicKey)}`, `  VRF key        ${bytesToHex(vrfPublicKey)}`];
}
