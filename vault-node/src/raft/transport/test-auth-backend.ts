// Which test Authenticator a Raft member process runs with (tests and benchmarks only): pairwise
// MACs like a vault member ('mac', the default), or Ed25519 signatures per envelope with either
// backend (what the vault did before its HSMs agreed pairwise MAC keys; kept to compare).

import type { Authenticator, MemberId } from '../types.ts';
import { Ed25519TestAuthenticator } from './test-authenticator.ts';
import { MacTestAuthenticator } from './test-mac-authenticator.ts';

export const TEST_AUTH_BACKENDS = ['mac', 'openssl', 'noble'] as const;
export type TestAuthBackend = (typeof TEST_AUTH_BACKENDS)[number];

export function isTestAuthBackend(s: string): s is TestAuthBackend {
  return (TEST_AUTH_BACKENDS as readonly string[]).includes(s);
}

export function testAuthenticator(
  seed: string,
  self: MemberId,
  members: Iterable<MemberId>,
  backend: TestAuthBackend,
): Authenticator {
  return backend === 'mac'
    ? new MacTestAuthenticator(seed, self, members)
    : Ed25519TestAuthenticator.fromSeed(seed, self, members, backend);
}
