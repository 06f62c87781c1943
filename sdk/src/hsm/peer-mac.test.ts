import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { context } from './aead.ts';
import { derivePeerMacKey, peerMacKeyObject, peerMacTag, verifyPeerMacTag } from './peer-mac.ts';

const shared = new Uint8Array(32).fill(7);
const a = { member: 'backups-dc1', agreementPublicKey: new Uint8Array(32).fill(1) };
const b = { member: 'backups-dc2', agreementPublicKey: new Uint8Array(32).fill(2) };
const msg = new Uint8Array(32).fill(9);

describe('peer MAC keys and tags', () => {
  it('both sides derive the same key, bound to the fleet, both ids and both agreement keys', () => {
    const k = derivePeerMacKey(shared, 'vaults/backups', a, b);
    expect(derivePeerMacKey(shared, 'vaults/backups', b, a)).toEqual(k);
    expect(derivePeerMacKey(shared, 'vaults/other', a, b)).not.toEqual(k);
    expect(derivePeerMacKey(shared, 'vaults/backups', { ...a, member: 'backups-dc3' }, b)).not.toEqual(k);
    expect(
      derivePeerMacKey(shared, 'vaults/backups', { ...a, agreementPublicKey: new Uint8Array(32).fill(3) }, b),
    ).not.toEqual(k);
    expect(derivePeerMacKey(new Uint8Array(32).fill(8), 'vaults/backups', a, b)).not.toEqual(k);
    expect(() => derivePeerMacKey(shared, 'vaults/backups', a, a)).toThrow(/two different members/);
  });

  it('a tag verifies only for its sender, recipient, message and key', () => {
    const raw = derivePeerMacKey(shared, 'vaults/backups', a, b);
    const rawCopy = raw.slice();
    const k = peerMacKeyObject(raw);
    expect(raw).toEqual(new Uint8Array(32)); // wiped
    const tag = peerMacTag(k, a.member, b.member, msg);
    // the format: HMAC-SHA256 of the canonical context (checked against @noble's HMAC)
    expect(tag).toEqual(hmac(sha256, rawCopy, context('peer-mac', a.member, b.member, msg)));
    expect(verifyPeerMacTag(k, a.member, b.member, msg, tag)).toBe(true);
    expect(verifyPeerMacTag(k, b.member, a.member, msg, tag)).toBe(false);
    expect(verifyPeerMacTag(k, a.member, b.member, msg.slice(1), tag)).toBe(false);
    expect(verifyPeerMacTag(k, a.member, b.member, msg, tag.slice(0, 31))).toBe(false);
    expect(verifyPeerMacTag(peerMacKeyObject(rawCopy.map((x) => x ^ 1)), a.member, b.member, msg, tag)).toBe(
      false,
    );
    // ids are length-prefixed: moving a character from one to the other changes the tag
    expect(peerMacTag(k, 'ab', 'c', msg)).not.toEqual(peerMacTag(k, 'a', 'bc', msg));
  });
});
