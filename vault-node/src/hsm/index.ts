export type { AttemptProof, CommittedAttempt } from './attempt-ledger.ts';
export {
  type AuditEntry,
  type AuditHead,
  type AuditVerification,
  auditLogFiles,
  verifyAuditLog,
  verifyAuditSegments,
} from './audit-log.ts';
export { HsmAuthenticator } from './authenticator.ts';
export {
  AGREEMENT_SLOT,
  FLEET_SECRET_SLOT,
  HsmError,
  IDENTITY_SLOT,
  type SlotInfo,
  SoftwareHsm,
  type SoftwareHsmOptions,
} from './hsm.ts';
export { HsmBusyError, HsmInputError, SEALED_BACKUP_KEY_BYTES } from './opaque-engine.ts';
export { SealedSlotError } from './sealed-slot.ts';
