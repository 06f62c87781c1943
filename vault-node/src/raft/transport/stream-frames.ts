// Framing of signed bodies on a message stream: u32 big-endian length, then the body (codec.ts
// encodeBody: signature + envelope). Each frame is authenticated on its own, exactly like a body
// posted alone; the framing only lets one long HTTP request carry many of them.

import { DecodeError } from './codec.ts';

const LENGTH_BYTES = 4;

export class FrameTooLargeError extends DecodeError {}

export function encodeFrame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(LENGTH_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, LENGTH_BYTES);
  return out;
}

/**
 * Splits a byte stream into frame bodies. Holds at most one partial frame: a length above
 * `maxFrameBytes` is refused before its body is buffered.
 */
export class FrameReader {
  private readonly maxFrameBytes: number;
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Adds a chunk and returns the frames it completed, in order. Throws DecodeError on a bad length. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.buffered < LENGTH_BYTES) break;
      const head = this.peek(LENGTH_BYTES);
      const length = new DataView(head.buffer, head.byteOffset, LENGTH_BYTES).getUint32(0, false);
      if (length === 0) throw new DecodeError('empty frame');
      if (length > this.maxFrameBytes)
        throw new FrameTooLargeError(`frame of ${length} bytes exceeds ${this.maxFrameBytes}`);
      if (this.buffered < LENGTH_BYTES + length) break;
      frames.push(this.take(LENGTH_BYTES + length).subarray(LENGTH_BYTES));
    }
    return frames;
  }

  /** True when the stream ended between frames. */
  get atBoundary(): boolean {
    return this.buffered === 0;
  }

  private peek(n: number): Uint8Array {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [concat(this.chunks, this.buffered)];
    return this.chunks[0]!;
  }

  private take(n: number): Uint8Array {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = concat(this.chunks, this.buffered);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
