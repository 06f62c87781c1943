// One POST to a peer member over node:http(s) with keep-alive connections: how a follower forwards a
// client request to the leader (leader-forwarding.ts). Not fetch: undici's fetch cost a follower
// more CPU per forward (WHATWG streams, a Response object, a body read through a web stream) than
// the rest of forwarding together (profile of test/bench/vault.ts, clients on followers), and every
// recovery through a follower forwards twice.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PeerAnswer {
  readonly status: number;
  readonly text: string;
}

/** The answer exceeded the caller's limit; the connection was dropped without reading the rest. */
export class PeerAnswerTooLargeError extends Error {
  override name = 'PeerAnswerTooLargeError';
}

// Sockets are reused across forwards; idle ones close after 30 s, so none linger to a gone leader.
const agentOptions = { keepAlive: true, maxSockets: 64, timeout: 30_000 };
const httpAgent = new HttpAgent(agentOptions);
const httpsAgent = new HttpsAgent(agentOptions);

export interface PeerPostOptions {
  readonly contentType: string;
  readonly timeoutMs: number;
  /** Characters of answer text accepted; more is an error. */
  readonly maxAnswerBytes: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** POSTs `body` to `url` (http or https); resolves with the status and the answer's text. */
export function peerPost(url: string, body: Uint8Array | string, o: PeerPostOptions): Promise<PeerAnswer> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  if (!https && target.protocol !== 'http:') return Promise.reject(new Error(`not an http(s) URL: ${url}`));
  const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return new Promise<PeerAnswer>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      target,
      {
        method: 'POST',
        agent: https ? httpsAgent : httpAgent,
        headers: { ...o.headers, 'content-type': o.contentType, 'content-length': data.length },
        signal: AbortSignal.timeout(o.timeoutMs),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > o.maxAnswerBytes) {
            req.destroy(new PeerAnswerTooLargeError(`the answer exceeds ${o.maxAnswerBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
