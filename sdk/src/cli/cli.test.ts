import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgv } from './command.ts';
import { runCli } from './main.ts';

const examples = fileURLToPath(new URL('../../../crds/examples/', import.meta.url));

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('keyfleet CLI', () => {
  it('parses flags in all three forms and keeps positionals', () => {
    const { args, flags } = parseArgv(
      ['a', '--x=1', '--y', '2', '--json', 'b', '--', '--z'],
      new Set(['json']),
    );
    expect(args).toEqual(['a', 'b', '--z']);
    expect([...flags]).toEqual([
      ['x', '1'],
      ['y', '2'],
      ['json', true],
    ]);
  });

  it('rejects an unknown command with usage and exit code 2', async () => {
    const result = await run('frobnicate');
    expect(result.code).toBe(2);
    expect(result.err).toContain('unknown command "frobnicate"');
  });

  it('validate accepts the valid examples', async () => {
    const result = await run('validate', `${examples}vaultfleet.yaml`, `${examples}keydirectory.yaml`);
    expect(result.code).toBe(0);
    expect(result.out).toContain('valid   VaultFleet/backups');
  });

  it('validate reports the API server message for an invalid manifest, as JSON too', async () => {
    const result = await run('validate', `${examples}invalid/vf-even-zones.yaml`, '--json');
    expect(result.code).toBe(1);
    const [report] = JSON.parse(result.out) as { errors: string[] }[];
    expect(report?.errors.join()).toContain('odd number of zones');
  });

  it('validate --old applies transition rules', async () => {
    const update = `${examples}invalid/vf-guess-limit-changed.yaml`;
    expect((await run('validate', update)).code).toBe(0);
    const result = await run('validate', update, '--old', `${examples}vaultfleet.yaml`);
    expect(result.code).toBe(1);
    expect(result.out).toContain('guessLimit is immutable');
  });
});
