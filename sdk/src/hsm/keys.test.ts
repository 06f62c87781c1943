import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64url } from './bytes.ts';
import {
  ed25519PrivateKey,
  ed25519PublicKeyProblem,
  Purpose,
  rawPublicKey,
  signingInput,
  signWithPurpose,
  verifyWithPurpose,
  x25519PrivateKey,
  x25519PublicKeyProblem,
  x25519SharedSecret,
} from './keys.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('Ed25519 through node:crypto', () => {
  it('matches RFC 8032 §7.1 test 1 (raw key import is right)', () => {
    const key = ed25519PrivateKey(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(Buffer.from(rawPublicKey(key)).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(sign(null, new Uint8Array(), key).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('signs purpose || 0 || message, and a signature for one purpose fails every other', () => {
    const key = ed25519PrivateKey(new Uint8Array(32).fill(7));
    const pub = rawPublicKey(key);
    const msg = new TextEncoder().encode('hello');
    const sig = signWithPurpose(key, Purpose.raftMessage, msg);
    expect(ed25519.verify(sig, signingInput(Purpose.raftMessage, msg), pub)).toBe(true);
    expect(verifyWithPurpose(pub, Purpose.raftMessage, msg, sig)).toBe(true);
    for (const p of Object.values(Purpose)) {
      if (p !== Purpose.raftMessage) expect(verifyWithPurpose(pub, p, msg, sig)).toBe(false);
    }
    expect(verifyWithPurpose(pub, Purpose.raftMessage, concatBytes(msg, new Uint8Array([0])), sig)).toBe(
      false,
    );
  });

  it('refuses S + L (malleability) and wrong-length signatures', () => {
    const key = ed25519PrivateKey(new Uint8Array(32).fill(9));
    const pub = rawPublicKey(key);
    const msg = new Uint8Array([1, 2, 3]);
    const sig = signWithPurpose(key, Purpose.raftMessage, msg);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const s = BigInt(`0x${Buffer.from(sig.slice(32)).reverse().toString('hex')}`) + L;
    const malleated = concatBytes(sig.slice(0, 32), hex(s.toString(16).padStart(64, '0')).reverse());
    expect(verifyWithPurpose(pub, Purpose.raftMessage, msg, malleated)).toBe(false);
    expect(verifyWithPurpose(pub, Purpose.raftMessage, msg, sig.slice(0, 63))).toBe(false);
  });

  it('refuses small-order and non-canonical public keys (the identity-key forgery noble accepts by default)', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged[0] = 1;
    // @noble/curves with its default (ZIP-215) rules accepts this "signature" for any message:
    expect(ed25519.verify(forged, new Uint8Array([5]), identity)).toBe(true);
    expect(verifyWithPurpose(identity, Purpose.raftMessage, new Uint8Array([5]), forged)).toBe(false);
    expect(ed25519PublicKeyProblem(identity)).toMatch(/small-order/);
    // y = p (non-canonical encoding of y = 0)
    const nonCanonical = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    expect(ed25519PublicKeyProblem(nonCanonical)).not.toBeNull();
    expect(ed25519PublicKeyProblem(new Uint8Array(31))).not.toBeNull();
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(ed25519PublicKeyProblem(rawPublicKey(publicKey))).toBeNull();
  });
});

describe('X25519', () => {
  it('matches RFC 7748 §6.1 (raw key import is right)', () => {
    const alice = x25519PrivateKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    expect(Buffer.from(rawPublicKey(createPublicKey(alice))).toString('hex')).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
  });

  it('refuses small-order, non-canonical and high-bit public keys', () => {
    const p = 2n ** 255n - 19n;
    const le = (n: bigint) => hex(n.toString(16).padStart(64, '0')).reverse();
    for (const u of [0n, 1n, p - 1n, p, p + 1n]) expect(x25519PublicKeyProblem(le(u))).not.toBeNull();
    expect(
      x25519PublicKeyProblem(hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')),
    ).toMatch(/small-order/);
    expect(
      x25519PublicKeyProblem(hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157')),
    ).toMatch(/small-order/);
    const good = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(x25519PublicKeyProblem(good)).toBeNull();
    const high = good.slice();
    high[31]! |= 0x80;
    expect(x25519PublicKeyProblem(high)).toMatch(/top bit/);
  });

  it('shared secret: RFC 7748 §6.1, and a small-order peer key refused', () => {
    const alice = x25519PrivateKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(Buffer.from(x25519SharedSecret(alice, bob)).toString('hex')).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
    expect(() => x25519SharedSecret(alice, new Uint8Array(32))).toThrow(/small-order/);
  });
});

describe('strict base64url', () => {
  it('refuses padding, foreign characters and non-zero trailing bits', () => {
    expect(fromBase64url('AAEC')).toEqual(new Uint8Array([0, 1, 2]));
    expect(fromBase64url('AAE=')).toBeNull();
    expect(fromBase64url('AA+C')).toBeNull();
    expect(fromBase64url('AA E')).toBeNull();
    expect(fromBase64url('AAF')).toBeNull(); // 'F' leaves non-zero trailing bits
    expect(fromBase64url('AAE')).toEqual(new Uint8Array([0, 1]));
    expect(fromBase64url('A')).toBeNull();
  });
});
