export * from './ecvrf.ts';
export * from './libsodium.ts';
