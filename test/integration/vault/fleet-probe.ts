// What the vault integration tests observe of a running fleet from outside its processes: OPAQUE
// evaluations counted from the members' HSM audit logs, Prometheus metrics, raw escrow requests
// (for a recover split into its start and finish), and backup clients that retry 503 answers the
// way a real client does while a leader is being elected.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupClient, BackupError, httpTransport, type Transport } from '@keyfleet/sdk/backup/client';
import type { EscrowPath } from '@keyfleet/sdk/backup/wire';
import * as opaque from '@serenity-kit/opaque';
import { CHEAP_STRETCHING, clientFinishLogin } from '../../../vault-node/src/escrow/testing.ts';
import { auditLogFiles } from '../../../vault-node/src/hsm/audit-log.ts';
import type { LocalFleet, LocalMember } from '../../fleet/local-fleet.ts';

/**
 * OPAQUE login evaluations (server.startLogin, an OPRF evaluation under a record's key) that every
 * member's HSM ever ran, from the audit logs on disk. The HSM appends the line with a synchronous
 * write before it returns the result, so the count survives a kill -9 of the process. Lines do not
 * name the user, so a test compares counts before and after flows of one user at a time.
 */
export function loginEvaluations(fleet: LocalFleet): number {
  let n = 0;
  for (const m of fleet.members) {
    for (const line of auditLines(m)) if (line.includes('"op":"opaque-start-login"')) n++;
  }
  return n;
}

/** Every line of a member's audit log: its rotated segments, then the current file. */
function auditLines(m: LocalMember): string[] {
  return auditLogFiles(join(m.dataDir, 'hsm', 'audit.log')).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== ''),
  );
}

/** Audit log operations of one member, e.g. to find 'export-fleet-secret' lines. */
export function auditOps(m: LocalMember): { op: string; slot: string; detail: string }[] {
  return auditLines(m).map((l) => JSON.parse(l) as { op: string; slot: string; detail: string });
}

/** The sum of a metric's samples whose labels include `labels`, from a member's /metrics. */
export async function metric(
  m: LocalMember,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${m.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** An HTTP request with a JSON (or raw) body; never throws for an HTTP status. */
export async function send(
  url: string,
  method: string,
  body: string | Uint8Array | undefined,
  headers: Record<string, string> = {},
): Promise<JsonAnswer> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  return send(url, 'POST', typeof body === 'string' ? body : JSON.stringify(body), headers);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A transport that retries 503 (no leader, still starting, commit timeout) and connection errors
 * until `timeoutMs`, as a client does during an election. Each retry of a recover start may spend
 * another attempt: that is the safe side the protocol chooses.
 */
export function retryingTransport(url: string, timeoutMs = 30_000): Transport {
  const inner = httpTransport(url, { timeoutMs: 15_000 });
  return async (path, body) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await inner(path, body);
        if ((r.status !== 503 && r.status !== 429) || Date.now() > deadline) return r;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
      await sleep(150);
    }
  };
}

/** A BackupClient through `member` with cheap Argon2id (tests exercise the fleet, not the KDF). */
export function backupClient(fleet: LocalFleet, member: LocalMember, transport?: Transport): BackupClient {
  return new BackupClient({
    fleetId: fleet.fleetId,
    trustedMembers: fleet.trustedMembers(),
    transport: transport ?? retryingTransport(member.clientUrl),
    keyStretching: CHEAP_STRETCHING,
  });
}

export function running(fleet: LocalFleet): LocalMember[] {
  return fleet.members.filter((m) => m.process && m.process.exitCode === null);
}

/** A recover/start sent raw, with what the client needs to finish it later. */
export interface StartedLogin {
  readonly answer: JsonAnswer;
  readonly clientLoginState: string;
}

export async function recoverStart(
  member: LocalMember,
  userId: string,
  password: string,
  path: EscrowPath = '/v1/escrow/recover/start',
): Promise<StartedLogin> {
  await opaque.ready;
  const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password });
  const answer = await post(member.clientUrl + path, { userId, startLoginRequest });
  return { answer, clientLoginState };
}

/** The recover/finish body for a started login, or null when the password is wrong. */
export function finishBody(
  fleetId: string,
  userId: string,
  password: string,
  started: StartedLogin,
): { userId: string; loginId: string; finishLoginRequest: string } | null {
  const body = started.answer.body as { loginId: string; loginResponse: string };
  const done = clientFinishLogin(
    fleetId,
    userId,
    password,
    started.clientLoginState,
    new Uint8Array(Buffer.from(body.loginResponse, 'base64url')),
  );
  if (!done) return null;
  return {
    userId,
    loginId: body.loginId,
    finishLoginRequest: Buffer.from(done.finishLoginRequest).toString('base64url'),
  };
}

/**
 * Waits until a leader is elected among the running members and every running member is ready;
 * on timeout the error carries the members' exit codes and the end of their logs (the fleet's
 * directory is removed after the tests).
 */
export async function settled(fleet: LocalFleet, timeoutMs = 60_000): Promise<LocalMember> {
  try {
    await fleet.waitAllReady(timeoutMs, running(fleet));
    return await fleet.leader(timeoutMs);
  } catch (e) {
    const tails = fleet.members.map((m) => {
      const log = existsSync(m.logFile) ? readFileSync(m.logFile, 'utf8').trimEnd().split('\n') : [];
      const state = m.process ? `exit ${m.process.exitCode ?? 'running'}` : 'not started';
      return `--- ${m.id} (${state})\n${log.slice(-8).join('\n')}`;
    });
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tails.join('\n')}`);
  }
}

/** Kills members with SIGKILL and starts them again from the same data dir (not waiting). */
export async function crashAndRestart(fleet: LocalFleet, members: readonly LocalMember[]): Promise<void> {
  await Promise.all(members.map((m) => fleet.kill(m, 'SIGKILL')));
  for (const m of members) fleet.spawn(m);
}

/**
 * Wrong guesses for `userId`, each through the next running member, until the record answers
 * locked; returns how many were answered wrong-password (each one an evaluated, counted attempt).
 */
export async function wrongGuessesUntilLocked(
  fleet: LocalFleet,
  userId: string,
  bound: number,
): Promise<number> {
  let wrong = 0;
  for (let i = 0; i < bound; i++) {
    const members = running(fleet);
    const via = members[i % members.length] as LocalMember;
    try {
      await backupClient(fleet, via).recover(userId, `wrong guess ${i}`);
      throw new Error('a wrong password recovered a key');
    } catch (e) {
      if (!(e instanceof BackupError)) throw e;
      if (e.code === 'locked') return wrong;
      if (e.code !== 'wrong-password') throw e;
      wrong++;
    }
  }
  throw new Error(`${userId} was not locked after ${bound} wrong guesses`);
}
