import { describe, expect, it } from 'vitest';
import { formatTable, parseBenchLine, percentile } from './report.ts';

describe('bench report', () => {
  it('round-trips a figure through its line and ignores other output', () => {
    const line = 'BENCH {"bench":"raft","name":"p99 commit","value":4.2,"unit":"ms","goal":"< 10 ms"}';
    expect(parseBenchLine(line)).toEqual({
      bench: 'raft',
      name: 'p99 commit',
      value: 4.2,
      unit: 'ms',
      goal: '< 10 ms',
    });
    expect(parseBenchLine('p99 commit 4.2 ms')).toBeUndefined();
    expect(parseBenchLine('BENCH {not json')).toBeUndefined();
  });

  it('takes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });

  it('aligns the table', () => {
    const table = formatTable([{ bench: 'a', name: 'x', value: 1234.5678, unit: '/s' }]).split('\n');
    expect(table[0]).toMatch(/^benchmark\s+figure\s+value\s+unit\s+goal$/);
    expect(table[2]).toContain('1235');
  });
});
