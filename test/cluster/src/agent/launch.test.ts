import { describe, expect, it } from 'vitest';
import { shadowsHarness } from './launch.ts';

describe('shadowsHarness', () => {
  const roots = ['/tmp/clone', '/tmp/clone/test/cluster/.state'];
  it('refuses targets that would hide the checkout or the state', () => {
    expect(shadowsHarness('/tmp', roots)).toBe(true);
    expect(shadowsHarness('/tmp/', roots)).toBe(true);
    expect(shadowsHarness('/', roots)).toBe(true);
    expect(shadowsHarness('/tmp/clone', roots)).toBe(true);
  });
  it('allows every other target', () => {
    expect(shadowsHarness('/var/lib/keyfleet', roots)).toBe(false);
    expect(shadowsHarness('/tmp/clone-other', roots)).toBe(false);
    expect(shadowsHarness('/tmp', ['/work/main'])).toBe(false);
  });
});
