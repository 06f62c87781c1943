import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCrd } from './crds.ts';
import { generateApiTypes } from './typegen.ts';

describe('generated API types', () => {
  it('match the CRDs (run `npm run gen:types` after changing crds/)', () => {
    const committed = readFileSync(new URL('./types.generated.ts', import.meta.url), 'utf8');
    expect(committed).toBe(generateApiTypes([loadCrd('VaultFleet'), loadCrd('KeyDirectory')]));
  });

  it('turn defaults into required fields and enums into unions', () => {
    const text = generateApiTypes([loadCrd('VaultFleet')]);
    expect(text).toMatch(/ guessLimit: number;/);
    expect(text).toMatch(/ directoryRef\?: \{/);
    expect(text).toContain("retentionPolicy: 'Retain' | 'Delete';");
  });
});
