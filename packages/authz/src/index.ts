export { AuthzError, errorCodes as authzErrorCodes, type AuthzErrorCode } from './errors.js';
export type {
  AuthorizationPolicy,
  AuthorizationPolicySpec,
  Condition,
  JwtRule,
  MtlsMode,
  ObjectMeta,
  Operation,
  PeerAuthentication,
  PolicyAction,
  PolicyTargetReference,
  RequestAuthentication,
  ResourceOrigin,
  Rule,
  SecurityApiVersion,
  SecurityResource,
  Source,
  WorkloadSelector,
} from './types.js';
export {
  DRY_RUN_ANNOTATION,
  formatIssue,
  parseDryRun,
  parseResource,
  validateResource,
  type ValidateOptions,
  type ValidationIssue,
  type ValidationResult,
} from './validate.js';
export { parseYaml, type LoadedDocument } from './yaml.js';
export type { CompileNote, EnforcementPoint, NoteCode } from './notes.js';
export {
  formatExplanation,
  type Decision,
  type DecisionValue,
  type Explanation,
  type PolicyTrace,
  type ShadowDecision,
} from './decision.js';
export {
  checkResult,
  createAuthorizer,
  type Authorizer,
  type CheckResult,
  type AuthorizerOptions,
  type PeerAuthenticationDecision,
  type ZtunnelEnforcement,
  type ZtunnelRequest,
} from './authorizer.js';
export type { HttpAttributes, WaypointRequest } from './waypoint/attributes.js';
export { WaypointAuthorizer, type WaypointOptions } from './waypoint/engine.js';
export {
  convertAuthorizationPolicyForZtunnel,
  convertPeerAuthenticationForZtunnel,
  peerAuthenticationLevels,
  peerAuthenticationPolicyKeys,
  selectorMatches,
  staticStrictPolicy,
  CONVERTED_PEER_AUTHENTICATION_PREFIX,
  STATIC_STRICT_POLICY,
  type WorkloadRef,
  type ZtunnelConversion,
  type ZtunnelConvertOptions,
} from './ztunnel/convert.js';
export { L4PolicyIndex, WorkloadAuthorizer, type Connection, type WorkloadPolicyRef } from './ztunnel/engine.js';
export type { L4Action, L4Clause, L4Match, L4Policy, L4Rule, L4Scope, ServiceAccountMatch } from './ztunnel/model.js';
export type { StringMatch } from './match/strings.js';
export { normalizePath, type NormalizedPath, type PathNormalization } from './match/path.js';
export { schemaSource as istioSchemaSource } from './schema/security.gen.js';
