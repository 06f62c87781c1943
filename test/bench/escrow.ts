// Escrow benchmark: the server side of registration and recovery on one member, with the software
// HSM on real files (sealed slots, audit log with batched fsync) and the replicated log replaced by
// an in-memory "propose = apply" (so Raft's commit latency is NOT included: add test/bench/raft.ts's
// figures for a fleet). Clients are precomputed outside the timed regions, with cheap Argon2id:
// the server's work does not depend on the client's stretching.
//
//   npm exec -- node test/bench/escrow.ts [--n N] [--records N]
//
// Prints per-operation latency p50/p99 and throughput of: registration start and finish; recover
// start (commit attempt + startLogin + transcript signature) and finish (finishLogin + commit
// reset + release + signature) and the two together; the state machine's apply and snapshot;
// HSM signing for Raft peer authentication.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as opaque from '@serenity-kit/opaque';
import { Purpose } from '../../sdk/src/hsm/keys.ts';
import { encodeCommand } from '../../vault-node/src/escrow/commands.ts';
import { EscrowService } from '../../vault-node/src/escrow/service.ts';
import { EscrowStateMachine } from '../../vault-node/src/escrow/state-machine.ts';
import {
  bytes,
  clientFinishLogin,
  clientRegister,
  inMemoryLog,
} from '../../vault-node/src/escrow/testing.ts';
import { IDENTITY_SLOT } from '../../vault-node/src/hsm/hsm.ts';
import { OpaqueLoginPool } from '../../vault-node/src/hsm/opaque-login-pool.ts';
import { provisionFleet } from '../../vault-node/src/hsm/testing.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    records: { type: 'string', default: '100000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: npm exec -- node test/bench/escrow.ts [--n N] [--records N]\n');
  process.exit(0);
}
const N = Number(values.n);
const RECORDS = Number(values.records);

function summary(name: string, samplesMs: number[]): void {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const total = s.reduce((x, y) => x + y, 0);
  process.stdout.write(
    `${name.padEnd(50)} n=${String(s.length).padStart(6)}  p50 ${q(0.5).toFixed(3).padStart(8)} ms  p99 ${q(
      0.99,
    )
      .toFixed(3)
      .padStart(8)} ms  ${((s.length / total) * 1000).toFixed(0).padStart(8)} /s\n`,
  );
}

async function timed<T>(samples: number[], f: () => Promise<T> | T): Promise<T> {
  const t = performance.now();
  const r = await f();
  samples.push(performance.now() - t);
  return r;
}

await opaque.ready;
process.stdout.write(
  `escrow benchmark: node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
/**
 * Recover starts (commit + startLogin + signature) with `inFlight` concurrent requests, startLogin
 * on `pool`: throughput, and CPU of the whole process (all threads) and of the main thread's
 * event loop per start. The main thread is what a leader also needs for Raft and HTTP.
 */
async function concurrentStarts(poolSize: number, inFlight: number, total: number): Promise<void> {
  const pool = new OpaqueLoginPool(poolSize);
  const f = await provisionFleet(1, { extra: { opaqueLoginPool: pool } });
  try {
    const h = f.members[0]!.hsm;
    const l = inMemoryLog(h);
    const svc = new EscrowService({ hsm: h, propose: l.propose, guessLimit: 255 });
    const ids = Array.from({ length: inFlight }, (_, i) => `concurrent-${i}`);
    for (const userId of ids) {
      let ticket: Uint8Array = new Uint8Array();
      const record = await clientRegister(f.fleetId, userId, 'pw', async (registrationRequest) => {
        const r = await svc.registerStart({ userId, registrationRequest });
        ticket = r.ticket;
        return r.registrationResponse;
      });
      await svc.registerFinish({ userId, ticket, registrationRecord: record });
    }
    const request = bytes(opaque.client.startLogin({ password: 'pw' }).startLoginRequest);
    const run = async (n: number) => {
      let next = 0;
      await Promise.all(
        ids.map(async (userId) => {
          while (next++ < n) await svc.recoverStart({ userId, startLoginRequest: request });
        }),
      );
    };
    await run(inFlight * 2); // warm-up: threads, JIT
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const t = performance.now();
    await run(total);
    const seconds = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const mainBusyMs = performance.eventLoopUtilization(elu).active;
    process.stdout.write(
      `${`recover start, ${inFlight} in flight, ${poolSize} OPAQUE threads`.padEnd(50)} ${(total / seconds).toFixed(0).padStart(6)} /s  ` +
        `process CPU ${((used.user + used.system) / 1000 / total).toFixed(2)} ms/op  main thread busy ${(mainBusyMs / total).toFixed(2)} ms/op\n`,
    );
  } finally {
    await pool.close();
    await f.cleanup();
  }
}

const fleet = await provisionFleet(2);
try {
  const hsm = fleet.members[0]!.hsm;
  const log = inMemoryLog(hsm);
  const service = new EscrowService({ hsm, propose: log.propose, guessLimit: 10 });
  const users = Array.from({ length: N }, (_, i) => `bench-user-${i}`);

  // Registration: the client's steps are done once per user, outside the timings.
  const regStart: number[] = [];
  const regFinish: number[] = [];
  for (const userId of users) {
    let ticket: Uint8Array = new Uint8Array();
    const record = await clientRegister(fleet.fleetId, userId, 'pw', async (registrationRequest) => {
      const r = await timed(regStart, () => service.registerStart({ userId, registrationRequest }));
      ticket = r.ticket;
      return r.registrationResponse;
    });
    await timed(regFinish, () =>
      service.registerFinish({ userId, ticket, registrationRecord: record, replace: undefined }),
    );
  }
  summary('register start (OPRF + signature)', regStart);
  summary('register finish (ticket check + commit)', regFinish);

  // Recovery: start requests precomputed; each finish request needs that start's response, so the
  // client's finishLogin runs between the two timed halves.
  const starts = users.map(() => opaque.client.startLogin({ password: 'pw' }));
  const recStart: number[] = [];
  const recFinish: number[] = [];
  const recTotal: number[] = [];
  for (let i = 0; i < N; i++) {
    const userId = users[i]!;
    const s = starts[i]!;
    const r = await timed(recStart, () =>
      service.recoverStart({ userId, startLoginRequest: bytes(s.startLoginRequest) }),
    );
    const c = clientFinishLogin(fleet.fleetId, userId, 'pw', s.clientLoginState, r.loginResponse)!;
    await timed(recFinish, () =>
      service.recoverFinish({ userId, loginId: r.loginId, finishLoginRequest: c.finishLoginRequest }),
    );
    recTotal.push(recStart.at(-1)! + recFinish.at(-1)!);
  }
  summary('recover start (commit attempt + startLogin + sig)', recStart);
  summary('recover finish (finishLogin + commit + release)', recFinish);
  summary('recover start + finish (server work)', recTotal);

  // A wrong guess costs the server only a start.
  const wrong = opaque.client.startLogin({ password: 'wrong' });
  const wrongStarts: number[] = [];
  for (let i = 0; i < N; i++) {
    await timed(wrongStarts, () =>
      service.recoverStart({ userId: users[i]!, startLoginRequest: bytes(wrong.startLoginRequest) }),
    );
  }
  summary('wrong guess (recover start only)', wrongStarts);

  // Raft peer authentication: a MAC through the HSM's peer link per envelope digest, and the
  // identity-key signature each envelope cost before (counted into the audit usage entries).
  const peer = fleet.members[1]!;
  hsm.linkPeer(peer.certificate);
  const digest = new Uint8Array(32);
  const macs: number[] = [];
  for (let i = 0; i < N * 10; i++) await timed(macs, () => hsm.peerMac(peer.member, digest));
  summary('HSM peer MAC (raft envelope digest)', macs);
  const signs: number[] = [];
  for (let i = 0; i < N * 10; i++)
    await timed(signs, () => hsm.sign(IDENTITY_SLOT, Purpose.raftMessage, digest));
  summary('HSM sign (raft envelope digest, as before peer MACs)', signs);

  for (const threads of [0, 1]) await concurrentStarts(threads, 16, N * 2);
  await hsm.flush();

  // State machine alone.
  const sm = new EscrowStateMachine();
  const record = log.sm.get(users[0]!)!;
  const t0 = performance.now();
  for (let i = 0; i < RECORDS; i++) {
    sm.apply({
      term: 1,
      index: i + 1,
      type: 'normal',
      data: encodeCommand({
        op: 'register',
        userId: `u${i}`,
        guessLimit: 10,
        replace: null,
        credentialNonce: record.credentialNonce,
        registrationRecord: record.registrationRecord,
      }),
    });
  }
  const applyMs = performance.now() - t0;
  process.stdout.write(
    `state machine: ${RECORDS} register applies in ${applyMs.toFixed(0)} ms (${((RECORDS / applyMs) * 1000).toFixed(0)} /s)\n`,
  );
  const attempt = encodeCommand({ op: 'attempt', userId: 'u1' });
  const t1 = performance.now();
  for (let i = 0; i < RECORDS; i++)
    sm.apply({
      term: 1,
      index: RECORDS + i + 1,
      type: 'normal',
      data: i % 10 ? attempt : encodeCommand({ op: 'attempt', userId: `u${i}` }),
    });
  const attemptMs = performance.now() - t1;
  process.stdout.write(
    `state machine: ${RECORDS} attempt applies in ${attemptMs.toFixed(0)} ms (${((RECORDS / attemptMs) * 1000).toFixed(0)} /s)\n`,
  );
  const t2 = performance.now();
  const snap = sm.snapshot();
  const snapMs = performance.now() - t2;
  const t3 = performance.now();
  new EscrowStateMachine().restore(snap);
  const restoreMs = performance.now() - t3;
  process.stdout.write(
    `state machine: snapshot of ${RECORDS} records: ${(snap.length / 1e6).toFixed(1)} MB in ${snapMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms\n`,
  );
} finally {
  await fleet.cleanup();
}
