// Starting a container's process inside its pod: the pod's network namespace (`ip netns exec`,
// which also bind-mounts /etc/netns/<ns>/{resolv.conf,hosts} over /etc), a private mount namespace
// with the volumes bind-mounted at their mount paths, and its own UTS namespace (hostname).
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { paths, repoRoot, stateDir } from '../config.ts';
import type { BindMount } from './volumes.ts';

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Records mount points the harness had to create on the host, so `down` can remove them again. */
function noteCreated(target: string): void {
  let top = target;
  while (!existsSync(dirname(top))) top = dirname(top);
  if (!existsSync(top)) appendFileSync(paths.createdDirs, `${target}\n`);
}

/**
 * Pods share the host's file system, so a volume mounted over a directory that holds the checkout
 * or the harness state (a checkout under /tmp and a pod with an emptyDir at /tmp) would hide the
 * program, the prologue and every other volume's source. Such a mount is left out: the container
 * then sees the host directory there, which is all a test's scratch space needs.
 */
export function shadowsHarness(target: string, roots: readonly string[] = [repoRoot, stateDir]): boolean {
  const t = target.replace(/\/+$/, '') || '/';
  return roots.some((r) => r === t || r.startsWith(t === '/' ? '/' : `${t}/`));
}

/** A shell prologue that mounts the volumes, sets the hostname and changes directory. */
export function prologue(hostname: string, mounts: BindMount[], cwd: string): string {
  const lines = ['set -e', `hostname ${q(hostname)}`];
  for (const m of [...mounts].sort((a, b) => a.target.length - b.target.length)) {
    if (shadowsHarness(m.target)) {
      lines.push(`# ${m.target} not mounted: it would hide the checkout or the harness state`);
      continue;
    }
    const isFile = existsSync(m.source) && statSync(m.source).isFile();
    noteCreated(m.target);
    lines.push(
      isFile
        ? `[ -e ${q(m.target)} ] || { mkdir -p ${q(dirname(m.target))}; : > ${q(m.target)}; }`
        : `mkdir -p ${q(m.target)}`,
    );
    lines.push(`mount --bind ${q(m.source)} ${q(m.target)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.target)}`);
  }
  // Like a container runtime, a missing working directory is created.
  if (!existsSync(cwd)) noteCreated(cwd);
  lines.push(`mkdir -p ${q(cwd)}`, `cd ${q(cwd)}`, 'exec "$@"');
  return `${lines.join('\n')}\n`;
}

export interface LaunchSpec {
  netns: string;
  script: string; // file holding the prologue
  argv: string[];
  env: Record<string, string>;
}

export function writePrologue(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode: 0o700 });
}

function nsArgv(spec: LaunchSpec): string[] {
  return ['netns', 'exec', spec.netns, 'unshare', '--uts', '--', '/bin/sh', spec.script, ...spec.argv];
}

/** Starts the container's main process in its own process group, output appended to `log`. */
export function launch(spec: LaunchSpec, log: string): ChildProcess {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  try {
    return spawn('ip', nsArgv(spec), { env: spec.env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Runs a command in the container's namespaces to completion (exec probes, hooks, `exec`). */
export function execIn(
  spec: LaunchSpec,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', nsArgv(spec), {
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const cap = 1024 * 1024;
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < cap) stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < cap) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + 9 : 1), stdout, stderr });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: String(e) });
    });
  });
}
