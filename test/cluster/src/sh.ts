// Running the system tools the harness drives (ip, nft, mount, ...).
import { execFile, execFileSync } from 'node:child_process';

export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    throw new Error(`${cmd} ${args.join(' ')} failed (${err.status}): ${String(err.stderr ?? '').trim()}`);
  }
}

/** Like run, but a failure is ignored (for idempotent teardown); returns whether it succeeded. */
export function tryRun(cmd: string, args: string[], input?: string): boolean {
  try {
    run(cmd, args, input);
    return true;
  } catch {
    return false;
  }
}

export function runAsync(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
