// A worker thread of the HSM's OPAQUE engine (opaque-login-pool.ts): runs server.startLogin, the
// one expensive OPAQUE server operation (an OPRF evaluation and the key exchange's scalar
// multiplications, about a millisecond), off the member's main thread, which is busy with Raft and
// HTTP. It is part of the HSM: it lives in the same process, keeps nothing between calls, and
// answers only its parent. Messages: {id, setup, userIdentifier, registrationRecord,
// startLoginRequest, identifiers} in; {id, loginResponse, serverLoginState} or {id, error} out.
import { parentPort } from 'node:worker_threads';
import * as opaque from '@serenity-kit/opaque';

interface StartLoginCall {
  readonly id: number;
  readonly setup: string;
  readonly userIdentifier: string;
  readonly registrationRecord: string;
  readonly startLoginRequest: string;
  readonly identifiers: { readonly client: string; readonly server: string };
}

const port = parentPort;
if (!port) throw new Error('opaque-login-worker.ts runs only as a worker thread');
await opaque.ready;
port.on('message', (m: StartLoginCall) => {
  try {
    const r = opaque.server.startLogin({
      serverSetup: m.setup,
      userIdentifier: m.userIdentifier,
      registrationRecord: m.registrationRecord,
      startLoginRequest: m.startLoginRequest,
      identifiers: m.identifiers,
    });
    port.postMessage({ id: m.id, loginResponse: r.loginResponse, serverLoginState: r.serverLoginState });
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
port.postMessage({ ready: true });
