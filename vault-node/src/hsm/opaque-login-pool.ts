// OPAQUE server.startLogin on worker threads (opaque-login-worker.ts), so that a leader's main
// thread, which also runs Raft and HTTP, need not do every login's scalar multiplications:
// startLogin is a quarter of a busy leader's main-thread time (profile of test/bench/vault.ts).
// One pool per process, shared by its HSMs; threads start on first use and do not keep the
// process alive while idle.
//
// Off by default (KEYFLEET_OPAQUE_THREADS=0): a thread only pays where the member has a core to
// spare. On our shared 2-core machine, seven members and the clients already compete for the
// cores, and the hop cost more than it saved: 62-70 recoveries/s with one thread against 92-96
// without, leader CPU 5.0 against 3.6 ms per recovery (A/B at load 32, fleet of 7, 32 clients).
// test/bench/escrow.ts compares both in one process (main-thread time per start drops from about
// 1.4 to 0.5-0.7 ms, process CPU rises by 0.3 ms).
//
// The fleet secret goes to the worker with each call, inside the process (a structured clone
// between threads of the same process), never to disk or the network; the worker keeps nothing.
// With `size` 0, or when the workers cannot start, startLogin runs on the calling thread.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Env } from '@keyfleet/sdk/vault/contract';
import * as opaque from '@serenity-kit/opaque';

export interface StartLoginInput {
  readonly setup: string;
  readonly userIdentifier: string;
  readonly registrationRecord: string;
  readonly startLoginRequest: string;
  readonly identifiers: { readonly client: string; readonly server: string };
}
export interface StartLoginOutput {
  readonly loginResponse: string;
  readonly serverLoginState: string;
}

/** startLogin refused the input (a malformed client message): the message is the library's. */
export class StartLoginRefused extends Error {
  override name = 'StartLoginRefused';
}

interface Pending {
  readonly resolve: (r: StartLoginOutput) => void;
  readonly reject: (e: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  ready: Promise<void>;
}

const WORKER_URL = new URL('./opaque-login-worker.ts', import.meta.url);

export class OpaqueLoginPool {
  readonly #size: number;
  readonly #threads: Thread[] = [];
  #nextId = 1;
  #broken = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`pool size must be >= 0, got ${size}`);
    this.#size = size;
  }

  /** Threads in use now (started lazily, up to the size). */
  get threads(): number {
    return this.#threads.length;
  }

  async startLogin(input: StartLoginInput): Promise<StartLoginOutput> {
    if (this.#size === 0 || this.#broken) return startLoginHere(input);
    const thread = this.#pick();
    try {
      await thread.ready;
    } catch {
      // The worker could not start (e.g. no worker support): run here from now on.
      this.#broken = true;
      return startLoginHere(input);
    }
    const id = this.#nextId++;
    return new Promise<StartLoginOutput>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      if (thread.pending.size === 1) thread.worker.ref();
      thread.worker.postMessage({ id, ...input });
    });
  }

  /** The least busy thread, starting a new one while there are fewer than `size` and all are busy. */
  #pick(): Thread {
    let best: Thread | undefined;
    for (const t of this.#threads) if (!best || t.pending.size < best.pending.size) best = t;
    if (best && (best.pending.size === 0 || this.#threads.length >= this.#size)) return best;
    const t = this.#spawn();
    this.#threads.push(t);
    return t;
  }

  #spawn(): Thread {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    const pending = new Map<number, Pending>();
    const thread: Thread = { worker, pending, ready: Promise.resolve() };
    thread.ready = new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', () => reject(new Error('the OPAQUE worker exited before it was ready')));
      worker.once('message', () => resolve());
    });
    thread.ready.catch(() => {});
    worker.on('message', (m: { id?: number; error?: string } & Partial<StartLoginOutput>) => {
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p || m.id === undefined) return;
      pending.delete(m.id);
      if (pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(new StartLoginRefused(m.error));
      else p.resolve({ loginResponse: m.loginResponse!, serverLoginState: m.serverLoginState! });
    });
    const fail = (e: Error) => {
      const i = this.#threads.indexOf(thread);
      if (i >= 0) this.#threads.splice(i, 1);
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => fail(new Error(`the OPAQUE worker exited (code ${code})`)));
    return thread;
  }

  /** Stops the threads (tests; a member just exits). */
  async close(): Promise<void> {
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}

function startLoginHere(input: StartLoginInput): StartLoginOutput {
  try {
    return opaque.server.startLogin({
      serverSetup: input.setup,
      userIdentifier: input.userIdentifier,
      registrationRecord: input.registrationRecord,
      startLoginRequest: input.startLoginRequest,
      identifiers: input.identifiers,
    });
  } catch (e) {
    throw new StartLoginRefused(e instanceof Error ? e.message : String(e));
  }
}

let shared: OpaqueLoginPool | null = null;

/** Environment variable: OPAQUE worker threads per process (0 runs startLogin on the main thread). */
export const OPAQUE_THREADS_ENV = Env.opaqueThreads;

/**
 * The pool size `KEYFLEET_OPAQUE_THREADS` asks for: 0..16, or "auto" for one thread when there is
 * more than one core. Unset: 0 (see the header for why). The member's config refuses other values
 * at start (config.ts); anything else here also means 0.
 */
export function loginPoolSize(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const asked = env[OPAQUE_THREADS_ENV];
  if (asked === 'auto') return cores > 1 ? 1 : 0;
  if (asked !== undefined && /^\d{1,2}$/.test(asked) && Number(asked) <= 16) return Number(asked);
  return 0;
}

/** The process's pool, sized by loginPoolSize(). */
export function sharedLoginPool(): OpaqueLoginPool {
  shared ??= new OpaqueLoginPool(loginPoolSize());
  return shared;
}
