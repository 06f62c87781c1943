/**
 * The one error type the akd verifiers and decoders throw. `code` says which check
 * failed; `message` says what, for which version/epoch, in words.
 */
export type AkdErrorCode =
  | 'decode' // malformed protobuf or a field out of range
  | 'limit' // a configured size limit was exceeded
  | 'input' // a caller-supplied argument is malformed (key, hash, epoch)
  | 'membership'
  | 'non-membership'
  | 'vrf'
  | 'lookup'
  | 'history'
  | 'audit';

export class AkdError extends Error {
  override readonly name = 'AkdError';
  readonly code: AkdErrorCode;
  constructor(code: AkdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
