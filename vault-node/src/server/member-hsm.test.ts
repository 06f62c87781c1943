import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readHexKeyBundle } from './member-hsm.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyfleet-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const k1 = 'ab'.repeat(32);
const k2 = '0c'.repeat(32);

describe('readHexKeyBundle (the manufacturer CA keys a member trusts)', () => {
  it('reads one key, or several one per line (a CA rotation), ignoring blank lines', () => {
    expect(readHexKeyBundle(file('one', `${k1}\n`), 'CA')).toEqual([new Uint8Array(32).fill(0xab)]);
    expect(readHexKeyBundle(file('two', `${k1}\n\n  ${k2}  \n`), 'CA')).toEqual([
      new Uint8Array(32).fill(0xab),
      new Uint8Array(32).fill(0x0c),
    ]);
  });

  it('refuses an empty file, a malformed line (naming it), and more than eight keys', () => {
    expect(() => readHexKeyBundle(file('empty', '\n'), 'CA')).toThrow(/1 to 8 keys/);
    expect(() => readHexKeyBundle(file('bad', `${k1}\n${k2.toUpperCase()}\n`), 'CA')).toThrow(/line 2/);
    expect(() => readHexKeyBundle(file('short', 'abcd'), 'CA')).toThrow(/line 1 must be 64/);
    expect(() => readHexKeyBundle(file('many', `${k1}\n`.repeat(9)), 'CA')).toThrow(/1 to 8 keys/);
  });
});
