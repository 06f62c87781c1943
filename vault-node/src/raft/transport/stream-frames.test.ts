import { describe, expect, it } from 'vitest';
import { DecodeError } from './codec.ts';
import { encodeFrame, FrameReader, FrameTooLargeError } from './stream-frames.ts';

describe('message stream framing', () => {
  const bodies = [1, 300, 70_000, 5, 2].map((n, i) => new Uint8Array(n).fill(i + 1));
  const stream = new Uint8Array(bodies.reduce((n, b) => n + 4 + b.length, 0));
  let off = 0;
  for (const b of bodies) {
    stream.set(encodeFrame(b), off);
    off += 4 + b.length;
  }

  it('reassembles frames whatever the chunk boundaries', () => {
    for (const chunk of [1, 3, 4, 7, 1000, 65_536, stream.length]) {
      const r = new FrameReader(100_000);
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += chunk) out.push(...r.push(stream.subarray(i, i + chunk)));
      expect(out, `chunk ${chunk}`).toEqual(bodies);
      expect(r.atBoundary).toBe(true);
    }
  });

  it('knows when a stream ends inside a frame', () => {
    const r = new FrameReader(100_000);
    expect(r.push(stream.subarray(0, 10))).toEqual([bodies[0]]);
    expect(r.atBoundary).toBe(false);
  });

  it('refuses a frame above the limit before buffering it, and an empty frame', () => {
    expect(() => new FrameReader(69_999).push(stream)).toThrow(FrameTooLargeError);
    expect(() => new FrameReader(10).push(new Uint8Array(4))).toThrow(DecodeError);
  });
});
