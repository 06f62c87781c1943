/**
 * keyfleet's akd core: wire-compatible with the akd crate 0.13 (akd_core) in its
 * WhatsApp v1 configuration. Pure, no I/O. Verifiers for clients and auditors; hashing,
 * label derivation, tree roots and encoders for servers.
 */
export * from './audit.ts';
export * from './bytes.ts';
export * from './codec.ts';
export * from './errors.ts';
export * from './label.ts';
export * from './markers.ts';
export * from './types.ts';
export * from './verify.ts';
export * from './vrf-labels.ts';
export type { Freshness } from './whatsapp-v1.ts';
export * as whatsappV1 from './whatsapp-v1.ts';
