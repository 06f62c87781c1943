// pendingChange in the admin status, over HTTP with signed admin calls: reported while the
// operator's membership call is in flight, null once it is applied, kept after an unknown outcome
// (a Raft timeout) until the log it may sit in is applied, and a second change refused meanwhile.
import type { AddressInfo } from 'node:net';
import { AdminCallError } from '@keyfleet/sdk/vault/admin-client';
import { AdminVerifier, signAdminRequest } from '@keyfleet/sdk/vault/admin-signature';
import {
  ADMIN_AUTH_SCHEME,
  ADMIN_NONCE_HEADER,
  ADMIN_TIMESTAMP_HEADER,
  type AdminStatus,
  HttpPath,
} from '@keyfleet/sdk/vault/contract';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_SECRET_SLOT } from '../hsm/index.ts';
import { provisionFleet, type TestFleet } from '../hsm/testing.ts';
import { RaftTimeoutError } from '../raft/node/errors.ts';
import type { RaftNode } from '../raft/node/raft-node.ts';
import { adminApi } from './admin-api.ts';

/** A leader whose membership calls settle when the test says so. */
class FakeLeader {
  applied = 10;
  lastIndex = 10;
  settle: ((e?: Error) => void) | null = null;
  status() {
    return {
      role: 'leader',
      leader: 'backups-dc1',
      term: 2,
      commit: this.applied,
      applied: this.applied,
      lastIndex: this.lastIndex,
      membership: { voters: ['backups-dc1'], learners: [] },
    };
  }
  #change(): Promise<void> {
    this.lastIndex++;
    return new Promise((resolve, reject) => {
      this.settle = (e) => {
        this.settle = null;
        if (e) reject(e);
        else {
          this.applied = this.lastIndex;
          resolve();
        }
      };
    });
  }
  addLearner = () => this.#change();
  promote = () => this.#change();
  remove = () => this.#change();
}

let fleet: TestFleet;
let close: () => void;
let baseUrl: string;
let secret: Uint8Array;
const leader = new FakeLeader();
// Signed calls are unique per (method, path, body, second): each call here gets its own second.
let clock = 1_900_000_000;

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const bytes = new TextEncoder().encode(body === undefined ? '' : JSON.stringify(body));
  const { timestamp, nonce, signature } = signAdminRequest(secret, method, path, bytes, ++clock);
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      authorization: `${ADMIN_AUTH_SCHEME} ${signature}`,
      [ADMIN_TIMESTAMP_HEADER]: String(timestamp),
      [ADMIN_NONCE_HEADER]: nonce,
    },
    ...(body === undefined ? {} : { body: bytes }),
  });
  const parsed: unknown = await res.json();
  if (!res.ok) throw new AdminCallError(method, path, res.status, parsed);
  return parsed as T;
}

beforeAll(async () => {
  fleet = await provisionFleet(1, { distribute: false });
  secret = ed25519.utils.randomSecretKey();
  const app = adminApi({
    hsm: fleet.members[0]!.hsm,
    zone: 'dc1',
    node: () => leader as unknown as RaftNode,
    readiness: () => ({ ready: true, reason: '' }) as never,
    verifier: new AdminVerifier(ed25519.getPublicKey(secret), () => clock),
    peerUrlOf: () => 'http://127.0.0.1:1',
    onCertificate: () => {},
  });
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  close = () => server.close();
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  close();
  await fleet.cleanup();
});

const status = () => call<AdminStatus>('GET', HttpPath.adminStatus);
const change = (kind: string, member: string) => call('POST', HttpPath.adminMembership, { kind, member });
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('admin status pendingChange', () => {
  it('is null when nothing is in flight, the change while it is, null again once applied', async () => {
    const first = await status();
    expect(first.pendingChange).toBeNull();
    // No fleet secret yet: no OPAQUE server key. Then the one the HSM holds (what the attestation states).
    expect(first.opaqueServerPublicKey).toBeNull();
    const hsm = fleet.members[0]!.hsm;
    await hsm.generate(FLEET_SECRET_SLOT, 'opaque-setup');
    const withSecret = (await status()).opaqueServerPublicKey;
    expect(withSecret).toBe(Buffer.from(hsm.publicKey(FLEET_SECRET_SLOT)).toString('hex'));
    expect(withSecret).toMatch(/^[0-9a-f]{64}$/);
    const call = change('add-learner', 'backups-dc4');
    await until(() => leader.settle !== null);
    expect((await status()).pendingChange).toEqual({ kind: 'add-learner', member: 'backups-dc4' });
    leader.settle?.();
    await call;
    expect((await status()).pendingChange).toBeNull();
  });

  it('refuses a second change while one is in flight (409 change-pending)', async () => {
    const first = change('promote', 'backups-dc4');
    await until(() => leader.settle !== null);
    const second = await change('remove', 'backups-dc5').catch((e: unknown) => e);
    expect(second).toBeInstanceOf(AdminCallError);
    expect((second as AdminCallError).status).toBe(409);
    expect((second as AdminCallError).body).toMatchObject({
      error: { code: 'change-pending' },
      pendingChange: { kind: 'promote', member: 'backups-dc4' },
    });
    leader.settle?.();
    await first;
  });

  it('after a timeout (outcome unknown) stays pending until the log as of then is applied', async () => {
    const call = change('remove', 'backups-dc4').catch((e: unknown) => e);
    await until(() => leader.settle !== null);
    leader.lastIndex += 2; // other proposals after the change
    leader.settle?.(new RaftTimeoutError('proposal', 1000));
    expect(await call).toBeInstanceOf(AdminCallError);
    expect((await status()).pendingChange).toEqual({ kind: 'remove', member: 'backups-dc4' });
    leader.applied = leader.lastIndex - 1;
    expect((await status()).pendingChange).not.toBeNull();
    leader.applied = leader.lastIndex;
    expect((await status()).pendingChange).toBeNull();
  });

  it('a change refused at once (not the leader, core refusal) leaves nothing pending', async () => {
    const call = change('add-learner', 'backups-dc6').catch((e: unknown) => e);
    await until(() => leader.settle !== null);
    leader.settle?.(new Error('the membership change at index 11 is not committed yet'));
    expect(((await call) as AdminCallError).status).toBe(409);
    expect((await status()).pendingChange).toBeNull();
  });
});
