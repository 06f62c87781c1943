import { describe, expect, it } from 'vitest';
import { memberServiceAccount } from './service-account.ts';
import { testFleet } from './test-fleet.ts';

describe('memberServiceAccount', () => {
  it('mounts no token', () => {
    const sa = memberServiceAccount(testFleet());
    expect(sa.metadata?.name).toBe('backups-vault');
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(sa.metadata?.ownerReferences?.[0]?.kind).toBe('VaultFleet');
  });
});
