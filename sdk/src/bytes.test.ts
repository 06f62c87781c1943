import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, DecodeError } from './bytes.ts';

describe('ByteWriter / ByteReader', () => {
  it('writes little-endian integers and width-prefixed fields, byte for byte', () => {
    const out = new ByteWriter(4)
      .u8(0xab)
      .u16(0x0102)
      .u32(0x01020304)
      .u64(2 ** 32 + 5)
      .bytes8(Uint8Array.of(9))
      .bytes16(Uint8Array.of(8))
      .bytes32(Uint8Array.of(7))
      .string8('a')
      .string16('é')
      .finish();
    expect([...out]).toEqual([
      0xab, 0x02, 0x01, 0x04, 0x03, 0x02, 0x01, 5, 0, 0, 0, 1, 0, 0, 0, 1, 9, 1, 0, 8, 1, 0, 0, 0, 7, 1, 0x61,
      2, 0, 0xc3, 0xa9,
    ]);
    const r = new ByteReader(out);
    expect(r.u8('a')).toBe(0xab);
    expect(r.u16('b')).toBe(0x0102);
    expect(r.u32('c')).toBe(0x01020304);
    expect(r.u64('d')).toBe(2 ** 32 + 5);
    expect([...r.bytes8('e')]).toEqual([9]);
    expect([...r.bytes16('f')]).toEqual([8]);
    expect([...r.bytes32('g', 1)]).toEqual([7]);
    expect(r.string8('h', /^a$/)).toBe('a');
    expect(r.offset).toBe(out.length - 4);
    expect(r.string16('i', 2)).toBe('é');
    r.end('sample');
  });

  it('refuses values the format cannot hold instead of wrapping them', () => {
    expect(() => new ByteWriter().u8(256)).toThrow(RangeError);
    expect(() => new ByteWriter().u8(-1)).toThrow(RangeError);
    expect(() => new ByteWriter().u16(0x10000)).toThrow(RangeError);
    expect(() => new ByteWriter().u32(2 ** 32)).toThrow(RangeError);
    expect(() => new ByteWriter().u64(2 ** 53)).toThrow(RangeError);
    expect(() => new ByteWriter().string16('x'.repeat(0x10000))).toThrow(RangeError);
  });

  it('never rewrites bytes it has handed out', () => {
    const w = new ByteWriter(2).u8(1);
    const first = w.finish();
    w.u32(0xffffffff);
    expect([...first]).toEqual([1]);
    expect([...w.finish()]).toEqual([1, 0xff, 0xff, 0xff, 0xff]);
  });

  it('checks every length against its limit, its minimum and the bytes left', () => {
    const tooLong = new ByteWriter().bytes32(new Uint8Array(3)).finish();
    expect(() => new ByteReader(tooLong).bytes32('blob', 2)).toThrow(/blob of 3 bytes exceeds limit 2/);
    expect(() => new ByteReader(tooLong).bytes32('blob', 8, 4)).toThrow(/expected at least 4/);
    expect(() => new ByteReader(tooLong.subarray(0, 6)).bytes32('blob', 8)).toThrow(/truncated blob/);
    const count = new ByteWriter().u32(3).u8(0).u8(0).u8(0).finish();
    expect(new ByteReader(count).count('items', 3, 1)).toBe(3);
    expect(() => new ByteReader(count).count('items', 2, 1)).toThrow(/items count 3 exceeds limit 2/);
    expect(() => new ByteReader(count).count('items', 3, 2)).toThrow(/exceeds the bytes left/);
    expect(() => new ByteReader(Uint8Array.of(0, 0, 0, 0, 0, 0, 0x20, 0)).u64('n')).toThrow(
      /exceeds 2\^53-1/,
    );
    expect(() => new ByteReader(Uint8Array.of(1, 0xff)).string8('s', /./)).toThrow(/not valid UTF-8/);
    expect(() => new ByteReader(Uint8Array.of(1, 0x41)).string8('s', /^a$/)).toThrow(/does not match/);
    expect(() => new ByteReader(Uint8Array.of(1)).end('value')).toThrow(/1 trailing bytes after value/);
    try {
      new ByteReader(new Uint8Array(0)).u8('x');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
    }
  });

  it('returns copies even when handed a Buffer (whose slice() would alias)', () => {
    const input = Buffer.from([1, 2, 3, 4]);
    const got = new ByteReader(input.subarray(1)).raw(2, 'two');
    input[1] = 99;
    expect([...got]).toEqual([2, 3]);
    expect(Buffer.isBuffer(got)).toBe(false);
  });
});
