// One long-lived POST to a peer whose body is a sequence of framed, individually signed bodies
// (stream-frames.ts). A request per envelope cost a leader most of its CPU in HTTP machinery (a
// fetch, an express dispatch and a 204 response each, two more syscalls and wake-ups per message
// batch); on a stream an envelope costs one chunk write and one read. Authentication is unchanged:
// the receiver verifies every frame as it would a body posted alone.
//
// The receiver answers only when the body ends (204) or when it refuses a frame (4xx, and stops
// reading). The sender ends a stream after STREAM_MAX_AGE_MS or STREAM_MAX_BYTES and opens the
// next only once the receiver has answered, so envelopes never race across two streams (their
// counters must arrive in order). A stream whose receiver stops reading is cut off once
// MAX_BUFFERED_BYTES wait unsent, and one that ends without an answer is aborted after a timeout:
// a peer that vanished without a reset holds a sender for STREAM_MAX_AGE_MS plus that timeout at most.

export const STREAM_MAX_AGE_MS = 10_000;
export const STREAM_MAX_BYTES = 256 * 1024 * 1024;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export class MessageStream {
  readonly url: string;
  readonly openedAt = Date.now();
  /** Bytes and messages written; when the stream fails, its messages are counted as lost. */
  bytes = 0;
  messages = 0;
  /** The HTTP status the receiver answered with, 0 if the request failed; set when it ends. */
  readonly ended: Promise<number>;
  private done = false;
  private readonly abort = new AbortController();
  private controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(url: string) {
    this.url = url;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
      signal: this.abort.signal,
    };
    this.ended = fetch(url, init)
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        return res.status;
      })
      .catch(() => 0)
      .then((status) => {
        this.done = true;
        return status;
      });
  }

  get usable(): boolean {
    return !this.done && Date.now() - this.openedAt < STREAM_MAX_AGE_MS && this.bytes < STREAM_MAX_BYTES;
  }

  /** Queues a frame. False when the stream is over or its receiver fell too far behind (then it is cut). */
  write(frame: Uint8Array, messages: number): boolean {
    if (this.done) return false;
    const desired = this.controller.desiredSize;
    // null: the body errored (the request failed and its outcome is still on its way to `ended`).
    if (desired === null || -desired > MAX_BUFFERED_BYTES) {
      this.kill();
      return false;
    }
    try {
      this.controller.enqueue(frame);
    } catch {
      this.kill(); // closed under us: the request is over
      return false;
    }
    this.bytes += frame.length;
    this.messages += messages;
    return true;
  }

  /** Ends the body and waits for the receiver's answer, at most `timeoutMs`. */
  async end(timeoutMs: number): Promise<number> {
    try {
      this.controller.close();
    } catch {
      // already closed or errored
    }
    const timer = setTimeout(() => this.abort.abort(), timeoutMs);
    try {
      return await this.ended;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.done = true;
    this.abort.abort();
    try {
      this.controller.error(new Error('stream closed'));
    } catch {
      // already closed or errored
    }
  }
}
