export {
  type SlotKind,
  type SlotStatement,
  verifySlotAttestation,
} from './attestation.ts';
export { CertificateAuthority, type IssueOptions } from './ca.ts';
export {
  type Certificate,
  CertificateError,
  type CertificateRequest,
  caKeyId,
  decodeCertificate,
  type Subject,
  trustedMembersFromCertificates,
  verifyCertificate,
  verifyCertificateRequest,
} from './certificate.ts';
export { Purpose, verifyWithPurpose } from './keys.ts';
