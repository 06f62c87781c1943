// Long-running processes of the harness (etcd, apiserver, ..., the node agent): started detached
// with their output in a log file, tracked by pid files so `down` from another shell can stop them.
import { type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from './config.ts';

export interface Daemon {
  name: string;
  pid: number;
  log: string;
}

export function logPath(name: string): string {
  return join(paths.logs, `${name}.log`);
}

/** Starts `argv` detached (own process group), stdout+stderr appended to logs/<name>.log. */
export function startDaemon(name: string, argv: string[], opts: SpawnOptions = {}): Daemon {
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.pids, { recursive: true });
  const log = logPath(name);
  const fd = openSync(log, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { ...opts, detached: true, stdio: ['ignore', fd, fd] });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${argv[0]})`);
  child.unref();
  writeFileSync(join(paths.pids, `${name}.pid`), `${child.pid}\n${processStartTime(child.pid) ?? ''}\n`);
  return { name, pid: child.pid, log };
}

/** The kernel's start time of a pid (field 22 of /proc/pid/stat): tells a reused pid apart. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether pid runs; a zombie (exited, not yet reaped by its new parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The live process a pid file names, if it is still the process that was started. */
export function trackedPid(name: string): number | undefined {
  const file = join(paths.pids, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const [pidText, start] = readFileSync(file, 'utf8').split('\n');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return undefined;
  if (start && processStartTime(pid) !== start) return undefined;
  return pid;
}

export function trackedNames(): string[] {
  if (!existsSync(paths.pids)) return [];
  return readdirSync(paths.pids)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => f.slice(0, -4));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** SIGTERM to the daemon's process group, SIGKILL after `graceMs`; removes its pid file. */
export async function stopDaemon(name: string, graceMs = 10_000): Promise<boolean> {
  const pid = trackedPid(name);
  const file = join(paths.pids, `${name}.pid`);
  if (pid === undefined) {
    rmSync(file, { force: true });
    return false;
  }
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  rmSync(file, { force: true });
  return true;
}

export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}
