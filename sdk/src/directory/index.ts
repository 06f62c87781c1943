/**
 * The client side of a keyfleet key directory: signed epoch heads, the JSON its readers
 * serve, what a client trusts, and the checks that turn responses into verified facts.
 */
export * from './epoch-head.ts';
export * from './errors.ts';
export * from './report.ts';
export * from './trust.ts';
export * from './verify.ts';
export * from './wire.ts';
