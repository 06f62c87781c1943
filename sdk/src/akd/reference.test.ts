// keyfleet-made proofs: a reference directory built only from the sdk's exported pieces
// (test/interop/reference-directory.ts) produces lookup, history and audit proofs that our
// verifiers accept and that are byte-identical to test/interop/fixtures/keyfleet-made.json,
// which akd 0.13.0 verified (`keyfleet-akd-interop verify fixtures/keyfleet-made.json`).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keyfleetMadeChecks } from '../../../test/interop/reference-directory.ts';

describe('proofs made with the sdk', () => {
  it('verify with our verifiers and reproduce the proofs akd accepted, byte for byte', {
    timeout: 120_000,
  }, () => {
    const committed = JSON.parse(
      readFileSync(new URL('../../../test/interop/fixtures/keyfleet-made.json', import.meta.url), 'utf8'),
    ) as { checks: unknown[] };
    const made = keyfleetMadeChecks();
    expect(made.length).toBe(24);
    for (const c of made) expect(c.expect, c.id).toBe('valid');
    expect(JSON.parse(JSON.stringify(made))).toEqual(committed.checks);
    expect(new Set(made.map((c) => c.kind))).toEqual(new Set(['lookup', 'history', 'audit_blob', 'audit']));
  });
});
