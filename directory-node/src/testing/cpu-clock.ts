// Wall and CPU time of a stretch of work, for the benchmarks: the machine is shared, so wall
// time alone says little; CPU time per operation (the whole process, worker threads
// included, and the main thread alone) is what a quiet machine would see.
import { loadavg } from 'node:os';

export type Elapsed = {
  readonly wallMs: number;
  /** user + system CPU of the whole process (all threads) */
  readonly cpuMs: number;
  /** user + system CPU of the calling thread only */
  readonly mainCpuMs: number;
};

const ms = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Starts a clock; calling the result reads it. */
export function startClock(): () => Elapsed {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const main = process.threadCpuUsage();
  return () => ({
    wallMs: performance.now() - wall,
    cpuMs: ms(process.cpuUsage(cpu)),
    mainCpuMs: ms(process.threadCpuUsage(main)),
  });
}

/** "load average 1.23 0.98 0.50", as `uptime` prints it. */
export function loadAverage(): string {
  return `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
