import { describe, expect, it } from 'vitest';
import { MacTestAuthenticator } from './test-mac-authenticator.ts';

const members = ['n1', 'n2', 'n3'];
const body = new TextEncoder().encode('envelope digest');

describe('MacTestAuthenticator', () => {
  it('a tag from n1 for n2 is accepted by n2 only, for that sender, body and direction', () => {
    const n1 = new MacTestAuthenticator('s', 'n1', members);
    const n2 = new MacTestAuthenticator('s', 'n2', members);
    const n3 = new MacTestAuthenticator('s', 'n3', members);
    const tag = n1.sign('n1', 'n2', body);
    expect(n2.verify('n1', 'n2', body, tag)).toBe(true);
    // n3 shares another key with n1, and the tag names n2 as recipient
    expect(n3.verify('n1', 'n3', body, tag)).toBe(false);
    expect(n3.verify('n1', 'n2', body, tag)).toBe(false);
    // reflected back as if n2 had sent it to n1
    expect(n1.verify('n2', 'n1', body, tag)).toBe(false);
    expect(n2.verify('n3', 'n2', body, tag)).toBe(false);
    expect(n2.verify('n1', 'n2', body.slice(1), tag)).toBe(false);
    expect(n2.verify('n1', 'n2', body, tag.slice(1))).toBe(false);
    expect(n2.verify('mallory', 'n2', body, tag)).toBe(false);
    expect(
      n2.verify('n1', 'n2', body, new MacTestAuthenticator('other', 'n1', members).sign('n1', 'n2', body)),
    ).toBe(false);
  });

  it('signs only as itself and only for known members; learns added members', () => {
    const n1 = new MacTestAuthenticator('s', 'n1', members);
    expect(() => n1.sign('n2', 'n3', body)).toThrow(/cannot sign as n2/);
    expect(() => n1.sign('n1', 'n4', body)).toThrow(/no pair key for n4/);
    const n4 = new MacTestAuthenticator('s', 'n4', members);
    expect(n4.verify('n1', 'n4', body, new Uint8Array(32))).toBe(false);
    n1.addMember('n4');
    expect(n4.verify('n1', 'n4', body, n1.sign('n1', 'n4', body))).toBe(true);
  });
});
