import * as opaque from '@serenity-kit/opaque';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginPoolSize, OpaqueLoginPool, StartLoginRefused } from './opaque-login-pool.ts';

const identifiers = { client: 'alice', server: 'keyfleet:vaults/backups' };
let setup = '';
let registrationRecord = '';
beforeAll(async () => {
  await opaque.ready;
  setup = opaque.server.createSetup();
  const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({
    password: 'pw',
  });
  const { registrationResponse } = opaque.server.createRegistrationResponse({
    serverSetup: setup,
    userIdentifier: 'alice.x',
    registrationRequest,
  });
  ({ registrationRecord } = opaque.client.finishRegistration({
    clientRegistrationState,
    registrationResponse,
    password: 'pw',
    identifiers,
    keyStretching: { 'argon2id-custom': { memory: 256, iterations: 1, parallelism: 1 } },
  }));
});

const pools = [new OpaqueLoginPool(2), new OpaqueLoginPool(0)];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe.each([
  ['on up to two worker threads', pools[0]!],
  ['on the calling thread (size 0)', pools[1]!],
] as const)('OpaqueLoginPool %s', (_, pool) => {
  it('answers logins the client completes (and the server finishes), several at once', async () => {
    const logins = Array.from({ length: 6 }, (_, i) => ({
      password: i % 3 === 2 ? 'wrong' : 'pw',
      ...opaque.client.startLogin({ password: i % 3 === 2 ? 'wrong' : 'pw' }),
    }));
    const answers = await Promise.all(
      logins.map((l) =>
        pool.startLogin({
          setup,
          userIdentifier: 'alice.x',
          registrationRecord,
          startLoginRequest: l.startLoginRequest,
          identifiers,
        }),
      ),
    );
    for (const [i, l] of logins.entries()) {
      const finished = opaque.client.finishLogin({
        clientLoginState: l.clientLoginState,
        loginResponse: answers[i]!.loginResponse,
        password: l.password,
        identifiers,
        keyStretching: { 'argon2id-custom': { memory: 256, iterations: 1, parallelism: 1 } },
      });
      if (l.password === 'wrong') {
        expect(finished).toBeUndefined();
        continue;
      }
      const server = opaque.server.finishLogin({
        serverLoginState: answers[i]!.serverLoginState,
        finishLoginRequest: finished!.finishLoginRequest,
        identifiers,
      });
      expect(server.sessionKey).toBe(finished!.sessionKey);
    }
  });

  it("refuses a malformed client message with the library's reason", async () => {
    await expect(
      pool.startLogin({
        setup,
        userIdentifier: 'alice.x',
        registrationRecord,
        startLoginRequest: 'AAAA',
        identifiers,
      }),
    ).rejects.toBeInstanceOf(StartLoginRefused);
  });
});

it('a pool of size n starts at most n threads, and none for size 0', () => {
  expect(pools[0]!.threads).toBeGreaterThanOrEqual(1);
  expect(pools[0]!.threads).toBeLessThanOrEqual(2);
  expect(pools[1]!.threads).toBe(0);
  expect(() => new OpaqueLoginPool(-1)).toThrow(RangeError);
});

it('is sized by KEYFLEET_OPAQUE_THREADS (0..16, or auto: one thread with a spare core), else 0', () => {
  expect(loginPoolSize({}, 8)).toBe(0);
  expect(loginPoolSize({ KEYFLEET_OPAQUE_THREADS: 'auto' }, 2)).toBe(1);
  expect(loginPoolSize({ KEYFLEET_OPAQUE_THREADS: 'auto' }, 1)).toBe(0);
  expect(loginPoolSize({ KEYFLEET_OPAQUE_THREADS: '3' }, 1)).toBe(3);
  for (const bad of ['17', '-1', 'x', '', '1.5'])
    expect(loginPoolSize({ KEYFLEET_OPAQUE_THREADS: bad }, 2)).toBe(0);
});
