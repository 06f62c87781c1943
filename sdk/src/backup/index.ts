export {
  BackupClient,
  type BackupClientOptions,
  BackupError,
  type BackupErrorCode,
  httpTransport,
  type KeyStretching,
  type Transport,
} from './client.ts';
export { ERROR_STATUS, type ErrorCode, ESCROW_PATHS, MAX_REQUEST_BYTES } from './wire.ts';
