// Benchmarks print for people as they like, and call report() for each headline figure; the
// `npm run bench` runner collects those lines from every benchmark into one table.
export interface BenchFigure {
  readonly bench: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The goal from the issue, e.g. "< 10 ms" or ">= 5000/s"; informational, never asserted. */
  readonly goal?: string;
}

export const benchLinePrefix = 'BENCH ';

export function report(figure: BenchFigure): void {
  console.log(benchLinePrefix + JSON.stringify(figure));
}

export function parseBenchLine(line: string): BenchFigure | undefined {
  if (!line.startsWith(benchLinePrefix)) return undefined;
  try {
    const figure = JSON.parse(line.slice(benchLinePrefix.length)) as BenchFigure;
    return typeof figure.name === 'string' && typeof figure.value === 'number' ? figure : undefined;
  } catch {
    return undefined;
  }
}

/** Percentile of sorted samples (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function formatTable(figures: readonly BenchFigure[]): string {
  const rows = figures.map((f) => [f.bench, f.name, formatValue(f.value), f.unit, f.goal ?? '']);
  const header = ['benchmark', 'figure', 'value', 'unit', 'goal'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}
