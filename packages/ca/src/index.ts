export { CaError, errorCodes as caErrorCodes, type CaErrorCode } from './errors.js';
export {
  CertificateAuthority,
  DEFAULT_ROTATION_CHECK_MS,
  DEFAULT_WORKLOAD_TTL_MS,
  MAX_WORKLOAD_TTL_MS,
  ROOT_RENEWAL_FRACTION,
  type CaHooks,
  type CertificateAuthorityOptions,
  type CertificateSigner,
  type IssuedCertificate,
  type IssuedSvid,
  type IssueEvent,
  type RejectEvent,
  type RotationEvent,
  type RotationKind,
  type SelfSignedCaOptions,
  type SignRequest,
} from './authority.js';
export {
  CACERTS_FILES,
  createIntermediate,
  createSelfSignedRoot,
  DEFAULT_BACKDATE_MS,
  DEFAULT_ROOT_TTL_MS,
  readCacerts,
  validateMaterial,
  writeCacerts,
  type CaMaterial,
  type IntermediateOptions,
  type SelfSignedRootOptions,
} from './material.js';
export { memoryMetrics, noMetrics, type CaCounter, type CaGauge, type CaMetrics } from './metrics.js';
export { formatDuration, parseDuration } from './duration.js';
export {
  addTokenPublicKey,
  DEFAULT_TOKEN_ISSUER,
  loadTokenSigningKey,
  parseTokenSigningKey,
  publicKeysToJwks,
  readTokenPublicKeys,
  signServiceAccountToken,
  TOKEN_KEY_FILES,
  tokenKeyId,
  type LoadTokenSigningKeyOptions,
  type ServiceAccountTokenOptions,
  type TokenSigningKey,
} from './tokens.js';
export type { Jwks, JwtClaims } from './grpc/jwt.js';
