export { ConfigError, errorCodes as configErrorCodes, type ConfigErrorCode } from './errors.js';
export {
  CLUSTER_SCOPED,
  objectKey,
  type ConfigObject,
  type ContainerPort,
  type CoreResource,
  type Gateway,
  type GatewayClass,
  type GatewayListener,
  type MeshKind,
  type MeshResource,
  type Namespace,
  type Node,
  type ObjectMeta,
  type Origin,
  type Pod,
  type Service,
  type ServiceAccount,
  type ServiceEntry,
  type ServiceEntryPort,
  type ServicePort,
  type WorkloadEntry,
  type WorkloadEntrySpec,
} from './resources.js';
export {
  formatIssue,
  validateObject,
  type ConfigIssue,
  type ValidateOptions,
  type ValidationResult,
} from './validate.js';
export {
  assertNoErrors,
  CONFIG_EXTENSIONS,
  listConfigFiles,
  loadFiles,
  loadText,
  parseDocuments,
  type LoadResult,
  type ParsedDocument,
} from './load.js';
export { SourcedStore, type ConfigBatch, type ConfigEvent, type ConfigStore } from './store/store.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory.js';
export { FileStore, openFileStore, type FileStoreOptions } from './store/file.js';
export {
  AmbientIndex,
  versionOf,
  type AddressMessage,
  type AddressResource,
  type AmbientIndexOptions,
  type AuthorizationResource,
  type IndexChanges,
  type ServiceInfo,
  type WaypointConfig,
  type WaypointInfo,
  type WaypointProblem,
  type WaypointRef,
  type WorkloadInfo,
} from './ambient/index.js';
export { followStore, type FollowOptions, type IndexFollower } from './ambient/follow.js';
export * as labels from './ambient/labels.js';
export {
  analysisCodes,
  analyze,
  formatMessage,
  renderAnalysisDoc,
  type AnalysisCode,
  type AnalysisCodeDoc,
  type AnalysisLevel,
  type AnalysisMessage,
} from './analysis.js';
export {
  createSimulator,
  parseCheckRequest,
  Simulator,
  simulatorFromStore,
  type AuthzCheckRequest,
  type AuthzCheckResult,
  type CheckExplanation,
  type CheckRequest,
  type CheckResultLine,
  type HttpRequestAttributes,
  type RouteCheckRequest,
  type RouteCheckResult,
  type SimulatorOptions,
} from './simulator.js';
export { canonicalIp, formatIp, IpAllocator, isIp, parseCidr, parseIp } from './ip.js';
