// The one error type the attestation decoders throw: `field` names where in the input the
// problem is, the message says what was expected. Anything else escaping a decoder is a bug.
export class AttestationError extends Error {
  override readonly name = 'AttestationError';
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}
