import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the RFC 3720 check value and test vectors', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    // RFC 3720 B.4: 32 bytes of zeros, 32 bytes of 0xff, 0..31 ascending.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('checksums in pieces the same as at once, for every split point', () => {
    const data = Uint8Array.from({ length: 41 }, (_, i) => (i * 37 + 11) & 0xff);
    const whole = crc32c(data);
    for (let cut = 0; cut <= data.length; cut++) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(whole);
    }
  });
});
