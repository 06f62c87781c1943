// The wire format of a client request a follower forwards to the leader over the peer port. The
// follower authenticates it through the same Authenticator as its Raft envelopes (a MAC under the
// key its HSM shares with the leader's, hsm/peer-links.ts), so the leader can believe the one field it cannot see for itself: the address of the
// client the follower received the request from, which the leader's rate limit is keyed on.
//
//   body      = bytes8(signature: 32-byte MAC, or 64-byte signature) || envelope
//   envelope  = u8 version(1) || string8 from || string8 to || u64 counter || string8 client
//               || string8 path || bytes16 requestJson
//   signature = authenticator.sign(from, to, SHA-256("keyfleet forwarded request v1\0" || envelope))
//
// The digest's tag differs from the Raft envelope's, so a signature over one can never be presented
// as the other. The counter (microseconds since the epoch, increasing per sender) makes a captured
// body useless: forward-replay-guard.ts accepts each counter once, inside a time window.
import { createHash } from 'node:crypto';
import { ByteReader, ByteWriter } from '@keyfleet/sdk/bytes';
import { MEMBER_ID_PATTERN } from '@keyfleet/sdk/hsm/ids';
import { PEER_MAC_BYTES } from '@keyfleet/sdk/hsm/peer-mac';

const VERSION = 1;
const DIGEST_TAG = new TextEncoder().encode('keyfleet forwarded request v1\0');
/** The client API's own body cap (8 KiB of JSON). */
export const MAX_FORWARDED_REQUEST_BYTES = 8 * 1024;
/** Signature, envelope fields and the request: what the peer route may read before it verifies. */
export const MAX_FORWARDED_BODY_BYTES = MAX_FORWARDED_REQUEST_BYTES + 1024;
/** An IPv4 or IPv6 address as node reports a socket's peer (IPv6 may carry a %zone). */
export const CLIENT_ADDRESS_PATTERN = /^[0-9A-Za-z.:%_-]{1,64}$/;
const PATH_PATTERN = /^\/v1\/escrow\/[a-z0-9/-]{1,64}$/;

export interface ForwardedRequest {
  readonly from: string;
  readonly to: string;
  readonly counter: number;
  /** The address of the client as the forwarding member saw it. */
  readonly client: string;
  readonly path: string;
  /** The client's request body, as JSON text. */
  readonly requestJson: Uint8Array;
}

export function encodeForwardedEnvelope(r: ForwardedRequest): Uint8Array {
  if (!CLIENT_ADDRESS_PATTERN.test(r.client)) throw new RangeError('client address is not an address');
  if (r.requestJson.length > MAX_FORWARDED_REQUEST_BYTES) throw new RangeError('request too large');
  return new ByteWriter(r.requestJson.length + 160)
    .u8(VERSION)
    .string8(r.from)
    .string8(r.to)
    .u64(r.counter)
    .string8(r.client)
    .string8(r.path)
    .bytes16(r.requestJson)
    .finish();
}

export function decodeForwardedEnvelope(envelope: Uint8Array): ForwardedRequest {
  const r = new ByteReader(envelope);
  const version = r.u8('version');
  if (version !== VERSION) throw new RangeError(`unknown forwarded request version ${version}`);
  const request: ForwardedRequest = {
    from: r.string8('from', MEMBER_ID_PATTERN),
    to: r.string8('to', MEMBER_ID_PATTERN),
    counter: r.u64('counter'),
    client: r.string8('client', CLIENT_ADDRESS_PATTERN),
    path: r.string8('path', PATH_PATTERN),
    requestJson: r.bytes16('request', MAX_FORWARDED_REQUEST_BYTES),
  };
  r.end('forwarded request');
  return request;
}

/** What the sender authenticates (through the Authenticator: a MAC for the leader). */
export function forwardedDigest(envelope: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(DIGEST_TAG).update(envelope).digest());
}

export function encodeForwardedBody(signature: Uint8Array, envelope: Uint8Array): Uint8Array {
  return new ByteWriter(envelope.length + signature.length + 1).bytes8(signature).raw(envelope).finish();
}

export function decodeForwardedBody(body: Uint8Array): {
  readonly signature: Uint8Array;
  readonly envelope: Uint8Array;
} {
  const r = new ByteReader(body);
  const signature = r.bytes8('signature', 64, PEER_MAC_BYTES);
  return { signature, envelope: r.raw(r.remaining, 'envelope') };
}
