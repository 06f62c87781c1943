// A fleet of real Raft member processes (vault-node/src/raft/node/main.ts) on loopback addresses
// 127.0.0.11, .12, ...: start, kill -9, restart, partition (through each member's test-only
// /admin/partition, which makes its transport drop traffic to and from the named members), and a
// client that follows NotLeader redirects. Used by the fault tests and the benchmark.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestAuthBackend } from '../../../vault-node/src/raft/transport/test-auth-backend.ts';

const MAIN = resolve(import.meta.dirname, '../../../vault-node/src/raft/node/main.ts');

export interface Member {
  readonly id: string;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  proc: ChildProcess | undefined;
  starts: number;
}

export interface ClusterOptions {
  readonly size: number;
  readonly dir: string;
  readonly basePort: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEntries?: number;
  readonly authBackend?: TestAuthBackend;
}

export class HttpStatusError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function http(
  method: string,
  url: string,
  body?: unknown,
  timeoutMs = 3000,
): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (!res.ok) throw new HttpStatusError(res.status, json);
  return json;
}

export class ProcessCluster {
  readonly members: Member[];
  private readonly options: ClusterOptions;
  private readonly seed = `cluster-${process.pid}`;

  constructor(options: ClusterOptions) {
    this.options = options;
    mkdirSync(options.dir, { recursive: true });
    this.members = Array.from({ length: options.size }, (_, i) => {
      const host = `127.0.0.${11 + i}`;
      const port = options.basePort + i;
      const id = `n${i + 1}`;
      return {
        id,
        host,
        port,
        url: `http://${host}:${port}`,
        dataDir: join(options.dir, id),
        proc: undefined,
        starts: 0,
      };
    });
  }

  member(id: string): Member {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  get alive(): Member[] {
    return this.members.filter((m) => m.proc !== undefined);
  }

  start(id: string): void {
    const m = this.member(id);
    if (m.proc) return;
    const peers = this.members.map((x) => `${x.id}=${x.url}`).join(',');
    const o = this.options;
    const args = [
      MAIN,
      `--id=${m.id}`,
      `--peers=${peers}`,
      `--data-dir=${m.dataDir}`,
      `--listen=${m.host}:${m.port}`,
      `--test-key-seed=${this.seed}`,
      `--tick-ms=${o.tickMs ?? 100}`,
      `--election-ticks=${o.electionTicks ?? 10}`,
      `--heartbeat-ticks=${o.heartbeatTicks ?? 1}`,
      `--snapshot-entries=${o.snapshotEntries ?? 10_000}`,
      `--auth-backend=${o.authBackend ?? 'mac'}`,
      '--test-admin',
    ];
    const out = createWriteStream(join(this.options.dir, `${m.id}.log`), { flags: 'a' });
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
    m.starts++;
    m.proc = proc;
    proc.on('exit', () => {
      if (m.proc === proc) m.proc = undefined;
    });
  }

  async startAll(): Promise<void> {
    for (const m of this.members) this.start(m.id);
    await this.waitReady(this.members.map((m) => m.id));
  }

  /**
   * Waits until each member answers /healthz. Generous: loading seven Node processes at once took
   * longer than 15 s on this 2-core machine under load (a slow start is not what these tests test).
   */
  async waitReady(ids: string[], timeoutMs = 90_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (const id of ids) {
      for (;;) {
        try {
          await http('GET', `${this.member(id).url}/healthz`, undefined, 500);
          break;
        } catch (e) {
          if (Date.now() > end) throw new Error(`${id} did not come up: ${String(e)}`);
          await sleep(50);
        }
      }
    }
  }

  /** kill -9: no shutdown, nothing flushed that was not fsynced. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.member(id);
    const proc = m.proc;
    if (!proc) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async restart(id: string): Promise<void> {
    this.start(id);
    await this.waitReady([id]);
  }

  async status(id: string, timeoutMs = 1000): Promise<Record<string, unknown> | undefined> {
    try {
      return await http('GET', `${this.member(id).url}/v1/status`, undefined, timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** The leader a live member that says it leads, with the highest term. */
  async leader(): Promise<string | undefined> {
    const sts = await Promise.all(this.alive.map((m) => this.status(m.id)));
    let best: { id: string; term: number } | undefined;
    for (const st of sts) {
      if (st?.role === 'leader' && (!best || (st.term as number) > best.term))
        best = { id: st.id as string, term: st.term as number };
    }
    return best?.id;
  }

  async waitLeader(timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l) return l;
      if (Date.now() > end) throw new Error('no leader elected');
      await sleep(50);
    }
  }

  /** Symmetric partition: members of `side` and everyone else stop hearing each other. */
  async partition(side: string[]): Promise<void> {
    const other = this.members.map((m) => m.id).filter((id) => !side.includes(id));
    await Promise.all(
      this.alive.map((m) =>
        http('POST', `${m.url}/admin/partition`, { blocked: side.includes(m.id) ? other : side }).catch(
          () => undefined,
        ),
      ),
    );
  }

  async heal(): Promise<void> {
    await Promise.all(
      this.alive.map((m) => http('POST', `${m.url}/admin/partition`, { blocked: [] }).catch(() => undefined)),
    );
  }

  async dump(
    id: string,
  ): Promise<{ applied: number; kv: Record<string, string>; counters: Record<string, number> }> {
    return (await http('GET', `${this.member(id).url}/v1/dump`)) as never;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m.id, 'SIGKILL')));
  }
}

/**
 * A client that writes through whichever member leads: it starts at a guess, follows 421
 * redirects, and on errors or timeouts tries other members. Resolves only on an acknowledged
 * write; rejects when `deadline` passes (outcome unknown).
 */
export class ClusterClient {
  private guess: string;
  private readonly cluster: ProcessCluster;

  constructor(cluster: ProcessCluster) {
    this.cluster = cluster;
    this.guess = cluster.members[0]!.id;
  }

  async request(
    path: string,
    body: unknown,
    method = 'POST',
    deadlineMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const end = Date.now() + deadlineMs;
    let attempt = 0;
    for (;;) {
      const m = this.cluster.member(this.guess);
      try {
        return await http(method, `${m.url}${path}`, body, 2500);
      } catch (e) {
        if (Date.now() > end) throw e;
        const leader =
          e instanceof HttpStatusError ? (e.body as { leader?: { id?: string } }).leader?.id : undefined;
        if (leader && leader !== this.guess) {
          this.guess = leader;
          continue;
        }
        const ids = this.cluster.members.map((x) => x.id);
        this.guess = ids[(ids.indexOf(this.guess) + 1) % ids.length]!;
        attempt++;
        if (attempt % ids.length === 0) await sleep(50);
      }
    }
  }
}
