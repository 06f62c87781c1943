/**
 * The error a directory client's checks throw: `check` names what failed (a stable word for
 * scripts), `message` says what, at which epoch, in words a person can act on.
 */
export type DirectoryCheck =
  | 'response' // a response is malformed, over a limit, or not what was asked for
  | 'epoch-head' // a signed epoch head is invalid or inconsistent with another
  | 'lookup' // the lookup proof does not verify
  | 'history' // the key-history proof does not verify
  | 'audit'; // an append-only proof or the chain of epoch heads does not verify

export class DirectoryVerificationError extends Error {
  override readonly name = 'DirectoryVerificationError';
  readonly check: DirectoryCheck;
  constructor(check: DirectoryCheck, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.check = check;
  }
}
