export { L7Error, errorCodes as l7ErrorCodes, type L7ErrorCode } from './errors.js';
export type * from './resources.js';
export {
  assertValid,
  isSupportedKind,
  parseResources,
  parseYamlDocument,
  validateResource,
  type ParseResourcesOptions,
  type ValidationIssue,
} from './validate.js';
export {
  compileRouteTable,
  DEFAULT_RETRY_ON,
  DEFAULT_RETRY_POLICY,
  selectVirtualServices,
  type CompileDiagnostic,
  type CompileOptions,
  type DecisionOptions,
  type ProxyRef,
  type RouteTable,
  type ServiceRef,
} from './compile.js';
export {
  applyHeaderOps,
  NO_HEADER_OPS,
  type Backend,
  type CorsPolicyCompiled,
  type FaultDecision,
  type HeaderOps,
  type MirrorDecision,
  type RetryPolicy,
  type RouteAction,
  type RouteDecision,
  type RouteInfo,
  type RouteRequest,
  type WeightedBackend,
} from './decision.js';
export {
  DEFAULT_CONNECTION_POOL,
  DEFAULT_LOAD_BALANCER,
  DEFAULT_TRAFFIC_POLICY,
  effectiveTrafficPolicy,
  resolveDestinationRule,
  resolveHost,
  type HashPolicy,
  type LoadBalancerKind,
  type MergedDestinationRule,
  type ResolveDestinationRuleOptions,
  type ResolvedConnectionPool,
  type ResolvedLoadBalancer,
  type ResolvedOutlierDetection,
  type ResolvedTrafficPolicy,
} from './destination-rule.js';
export {
  compileTcpRouteTable,
  type TcpBackend,
  type TcpCompileOptions,
  type TcpDecision,
  type TcpRouteTable,
} from './tcp.js';
export { toRouteResult, type RouteResult, type RouteResultBackend } from './result.js';
export { evaluateCors, type CorsOutcome } from './cors.js';
export { compileRe2, type Re2 } from './regex.js';
export { formatDuration, parseDuration } from './duration.js';
export { normalizePath, type PathNormalization } from './path.js';
