// npm run bench — runs every benchmark in test/bench (each *.ts but this runner, report.ts and tests; one process each, one at a
// time so they do not disturb each other) and prints one table of their reported figures.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchFigure, formatTable, parseBenchLine } from './report.ts';

const directory = fileURLToPath(new URL('.', import.meta.url));

if (process.argv.includes('--help')) {
  console.log(
    'usage: npm run bench [-- NAME...]\nRuns each benchmark in test/bench (or those whose name contains NAME) and prints one table.',
  );
  process.exit(0);
}
const helpers = new Set(['run-all.ts', 'report.ts']);
const filters = process.argv.slice(2);
const files = readdirSync(directory)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !helpers.has(f))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();

const figures: BenchFigure[] = [];
const failed: string[] = [];
for (const file of files) {
  console.log(`\n== ${file}`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [directory + file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const figure = parseBenchLine(line);
        if (figure) figures.push(figure);
        else console.log(line);
      }
    });
    child.on('close', (status) => resolve(status ?? 1));
  });
  if (code !== 0) failed.push(file);
}
console.log(`\n${formatTable(figures)}`);
if (failed.length > 0) {
  console.error(`\nbenchmarks that failed: ${failed.join(', ')}`);
  process.exit(1);
}
