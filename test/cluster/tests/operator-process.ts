// The operator as the cluster tests run it: a process on the host (`node operator/src/main.ts`)
// with the harness's admin kubeconfig, watching one namespace, logging to .state/logs, with the
// V8 heap cap the chart gives the operator's pod (so memory figures match a deployment).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { paths, repoRoot, stateDir } from '../src/config.ts';

function chartHeapCapMiB(): number {
  const values = parse(readFileSync(join(repoRoot, 'charts/keyfleet/values.yaml'), 'utf8'));
  return Number(values.operator.maxHeapMiB);
}

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM and wait for the exit (a clean hand-over of its Lease). */
  stop(): Promise<void>;
}

export function startOperatorProcess(namespace: string, logName: string): OperatorProcess {
  const logDir = join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `operator-${logName}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${chartHeapCapMiB()}`,
      join(repoRoot, 'operator/src/main.ts'),
      '--kubeconfig',
      paths.kubeconfig,
      '--watch-namespaces',
      namespace,
      '--leader-election-namespace',
      namespace,
      '--metrics-address',
      '127.0.0.1:0',
      '--log-level',
      'debug',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  return {
    child,
    logFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
