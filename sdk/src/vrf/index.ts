export * from './ecvrf.ts';
