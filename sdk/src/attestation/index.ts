// Fleet-deployment attestations: build, sign, countersign, bundle and verify (FORMAT.md).
export * from './attest.ts';
export * from './bundle.ts';
export * from './diff.ts';
export * from './dsse.ts';
export * from './ed25519.ts';
export * from './errors.ts';
export * from './statement.ts';
export * from './trust.ts';
export * from './verify.ts';
