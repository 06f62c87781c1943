import { afterAll, describe, expect, it } from 'vitest';
import { AttestationFixture } from '../../../test/integration/attestation/fixture.ts';
import { diffFleetStatements } from './diff.ts';
import { buildFleetStatement } from './statement.ts';

const f = new AttestationFixture();
afterAll(() => f.close());

describe('diffFleetStatements', () => {
  const before = buildFleetStatement(f.input({ members: f.members(3) }));

  it('says nothing changed for the same statement', () => {
    expect(diffFleetStatements(before, before)).toEqual([]);
  });

  it('names members added, removed and re-keyed, and every fleet-wide change', () => {
    const five = f.members(5);
    const rekeyed = f.members(1, 40)[0]!;
    const members = [rekeyed, ...five.slice(1, 2), ...five.slice(3)]; // dc1 re-keyed, dc3 gone, dc4+dc5 new
    const after = buildFleetStatement(
      f.input({
        members,
        serial: 2,
        guessLimit: 5,
        opaqueServerPublicKey: new Uint8Array(32).fill(9),
        image: { ref: 'ghcr.io/keyfleet/vault-node:0.2.0', digest: `sha256:${'cd'.repeat(32)}` },
      }),
    );
    const changes = diffFleetStatements(before, after);
    expect(changes).toContain('serial: 1 -> 2');
    expect(changes).toContain('guess limit: 10 -> 5');
    expect(changes.some((c) => c.startsWith('image: ghcr.io/keyfleet/vault-node:0.1.0'))).toBe(true);
    expect(changes.some((c) => c.startsWith('OPAQUE server key:'))).toBe(true);
    expect(changes.some((c) => c.startsWith('member backups-dc1 re-keyed: HSM key'))).toBe(true);
    expect(changes.some((c) => c.startsWith('member backups-dc3 removed from zone dc3'))).toBe(true);
    expect(changes.some((c) => c.startsWith('member backups-dc4 added in zone dc4'))).toBe(true);
    expect(changes.some((c) => c.startsWith('member backups-dc5 added in zone dc5'))).toBe(true);
    expect(changes).toContain('zone dc4 added');
    expect(changes).toContain('zone dc3 removed');
    expect(changes).toContain('quorum: 2 -> 3');
    expect(changes.some((c) => c.includes('backups-dc2'))).toBe(false);
  });
});
