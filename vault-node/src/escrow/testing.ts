// Test and benchmark support: a replicated log reduced to its contract ("propose resolves with the
// apply result once committed"), and OPAQUE client steps with cheap key stretching (the server's
// work does not depend on the client's Argon2 parameters).

import type { KeyStretching } from '@keyfleet/sdk/backup/client';
import { opaqueIdentifiers } from '@keyfleet/sdk/backup/crypto';
import { fromBase64url } from '@keyfleet/sdk/hsm/bytes';
import * as opaque from '@serenity-kit/opaque';
import type { SoftwareHsm } from '../hsm/hsm.ts';
import type { EscrowHsm, Propose } from './service.ts';
import { EscrowStateMachine } from './state-machine.ts';

/** Argon2id at its minimum: for tests and benchmarks that exercise the server, never for users. */
export const CHEAP_STRETCHING: KeyStretching = {
  'argon2id-custom': { iterations: 1, memory: 8, parallelism: 1 },
};

export interface InMemoryLog {
  readonly sm: EscrowStateMachine;
  /** Commits (applies) and acknowledges. */
  readonly propose: Propose;
  /** Entries committed so far. */
  committed(): number;
}

/** What an HSM offers the state machine: the attempts it may evaluate (hsm/attempt-ledger.ts). */
export type AttemptSink = Pick<SoftwareHsm, 'recordCommittedAttempt'>;

/** A log whose state machine reports granted attempts to `hsms`, as every member's does to its own. */
export function inMemoryLog(...hsms: AttemptSink[]): InMemoryLog {
  const sm = new EscrowStateMachine({
    onAttemptGranted: (a) => {
      for (const h of hsms) h.recordCommittedAttempt(a);
    },
  });
  let index = 0;
  return {
    sm,
    propose: async (command) => sm.apply({ term: 1, index: ++index, type: 'normal', data: command }),
    committed: () => index,
  };
}

export const bytes = (s: string): Uint8Array => fromBase64url(s)!;

/** The client side of a registration, given the server's response function. */
export async function clientRegister(
  fleetId: string,
  userId: string,
  password: string,
  respond: (registrationRequest: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const start = opaque.client.startRegistration({ password });
  const registrationResponse = await respond(bytes(start.registrationRequest));
  const done = opaque.client.finishRegistration({
    clientRegistrationState: start.clientRegistrationState,
    registrationResponse: Buffer.from(registrationResponse).toString('base64url'),
    password,
    identifiers: opaqueIdentifiers(fleetId, userId),
    keyStretching: CHEAP_STRETCHING,
  });
  return bytes(done.registrationRecord);
}

/** The client side of a login: the finish request and session key, or null for a wrong password. */
export function clientFinishLogin(
  fleetId: string,
  userId: string,
  password: string,
  clientLoginState: string,
  loginResponse: Uint8Array,
): { finishLoginRequest: Uint8Array; sessionKey: Uint8Array } | null {
  const r = opaque.client.finishLogin({
    clientLoginState,
    loginResponse: Buffer.from(loginResponse).toString('base64url'),
    password,
    identifiers: opaqueIdentifiers(fleetId, userId),
    keyStretching: CHEAP_STRETCHING,
  });
  return r ? { finishLoginRequest: bytes(r.finishLoginRequest), sessionKey: bytes(r.sessionKey) } : null;
}

/** The HSM's escrow operations, counting OPRF evaluations (startLogin) and key releases. */
export function counting(hsm: SoftwareHsm): {
  hsm: EscrowHsm;
  counts: { startLogin: number; release: number };
} {
  const counts = { startLogin: 0, release: 0 };
  const h: EscrowHsm = {
    memberId: hsm.memberId,
    opaqueRegistrationResponse: (...x) => hsm.opaqueRegistrationResponse(...x),
    opaqueCheckTicket: (...x) => hsm.opaqueCheckTicket(...x),
    opaqueStartLogin: (...x) => {
      counts.startLogin++;
      return hsm.opaqueStartLogin(...x);
    },
    opaqueFinishLogin: (...x) => hsm.opaqueFinishLogin(...x),
    escrowSealUpload: (...x) => hsm.escrowSealUpload(...x),
    escrowRelease: (...x) => {
      counts.release++;
      return hsm.escrowRelease(...x);
    },
    escrowAuthorizeDelete: (...x) => hsm.escrowAuthorizeDelete(...x),
    escrowAuthorizeReplace: (...x) => hsm.escrowAuthorizeReplace(...x),
    escrowAcknowledge: (...x) => hsm.escrowAcknowledge(...x),
  };
  return { hsm: h, counts };
}
