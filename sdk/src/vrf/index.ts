export * from './backend.ts';
export * from './ecvrf.ts';
export * from './libsodium.ts';
