// The YAML resources this engine reads, typed after the CRDs (networking.istio.io v1/v1beta1/v1alpha3 and
// gateway.networking.k8s.io v1). Every field is optional in the type; validation (validate.ts) says what is required.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Resource<Kind extends string, Spec> {
  apiVersion?: string;
  kind?: Kind;
  metadata?: ObjectMeta;
  spec?: Spec;
}

// ---------------------------------------------------------------------------------------------- VirtualService

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface PortSelector {
  number?: number;
}

export interface Destination {
  host?: string;
  subset?: string;
  port?: PortSelector;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  withoutHeaders?: Record<string, StringMatch>;
  sourceNamespace?: string;
  statPrefix?: string;
}

export interface HTTPRouteDestination {
  destination?: Destination;
  weight?: number;
  headers?: Headers;
}

export interface Percent {
  value?: number;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string; exponentialDelay?: string; percentage?: Percent; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; http2Error?: string; percentage?: Percent };
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryRemoteLocalities?: boolean;
  retryIgnorePreviousHosts?: boolean;
  backoff?: string;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match?: string; rewrite?: string };
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  redirectCode?: number;
}

export interface HTTPDirectResponse {
  status?: number;
  body?: { string?: string; bytes?: string };
}

export interface CorsPolicy {
  allowOrigin?: string[];
  allowOrigins?: StringMatch[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
  unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
}

export interface HTTPMirrorPolicy {
  destination?: Destination;
  percentage?: Percent;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: { name?: string; namespace?: string };
  rewrite?: HTTPRewrite;
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrors?: HTTPMirrorPolicy[];
  mirrorPercentage?: Percent;
  mirrorPercent?: number;
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  sourceNamespace?: string;
}

export interface RouteDestination {
  destination?: Destination;
  weight?: number;
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

export interface TLSRoute {
  match?: (L4MatchAttributes & { sniHosts?: string[] })[];
  route?: RouteDestination[];
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

export type VirtualService = Resource<'VirtualService', VirtualServiceSpec>;

// ---------------------------------------------------------------------------------------------- DestinationRule

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: { name?: string; path?: string; ttl?: string; attributes?: { name?: string; value?: string }[] };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  ringHash?: { minimumRingSize?: number };
  maglev?: { tableSize?: number };
  minimumRingSize?: number;
}

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  consistentHash?: ConsistentHashLB;
  localityLbSetting?: Record<string, unknown>;
  warmupDurationSecs?: string;
  warmup?: { duration?: string; minimumPercent?: number; aggression?: number };
}

export interface ConnectionPoolSettings {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: string;
    tcpKeepalive?: { probes?: number; time?: string; interval?: string };
    maxConnectionDuration?: string;
    idleTimeout?: string;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: string;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    useClientProtocol?: boolean;
    maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean;
  consecutiveLocalOriginFailures?: number;
  consecutiveGatewayErrors?: number;
  consecutive5xxErrors?: number;
  consecutiveErrors?: number;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export interface ClientTLSSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  [field: string]: unknown;
}

export interface PortTrafficPolicy {
  port?: PortSelector;
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
  tunnel?: Record<string, unknown>;
  proxyProtocol?: Record<string, unknown>;
  retryBudget?: Record<string, unknown>;
}

export interface Subset {
  name?: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host?: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: { matchLabels?: Record<string, string> };
}

export type DestinationRule = Resource<'DestinationRule', DestinationRuleSpec>;

// ---------------------------------------------------------------------------------------------- Gateway API

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  sectionName?: string;
  port?: number;
}

export interface HTTPHeaderFilter {
  set?: { name?: string; value?: string }[];
  add?: { name?: string; value?: string }[];
  remove?: string[];
}

export interface HTTPPathModifier {
  type?: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
}

export interface GatewayHTTPRouteFilter {
  type?: string;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    path?: HTTPPathModifier;
    port?: number;
    statusCode?: number;
  };
  urlRewrite?: { hostname?: string; path?: HTTPPathModifier };
  requestMirror?: {
    backendRef?: BackendObjectReference;
    percent?: number;
    fraction?: { numerator?: number; denominator?: number };
  };
  cors?: {
    allowOrigins?: string[];
    allowCredentials?: boolean;
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    maxAge?: number;
  };
  extensionRef?: Record<string, unknown>;
}

export interface GatewayHTTPRouteMatch {
  path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string };
  headers?: { type?: 'Exact' | 'RegularExpression'; name?: string; value?: string }[];
  queryParams?: { type?: 'Exact' | 'RegularExpression'; name?: string; value?: string }[];
  method?: string;
}

export interface GatewayHTTPBackendRef extends BackendObjectReference {
  weight?: number;
  filters?: GatewayHTTPRouteFilter[];
}

export interface GatewayHTTPRouteRule {
  name?: string;
  matches?: GatewayHTTPRouteMatch[];
  filters?: GatewayHTTPRouteFilter[];
  backendRefs?: GatewayHTTPBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
  sessionPersistence?: Record<string, unknown>;
}

export interface HTTPRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: GatewayHTTPRouteRule[];
}

/** Gateway API `HTTPRoute` (named GatewayHTTPRoute here to keep it apart from the VirtualService `HTTPRoute` type). */
export type GatewayHTTPRoute = Resource<'HTTPRoute', HTTPRouteSpec>;

export interface GRPCRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: {
    name?: string;
    matches?: {
      method?: { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string };
      headers?: { type?: 'Exact' | 'RegularExpression'; name?: string; value?: string }[];
    }[];
    filters?: GatewayHTTPRouteFilter[];
    backendRefs?: GatewayHTTPBackendRef[];
  }[];
}

export type GRPCRoute = Resource<'GRPCRoute', GRPCRouteSpec>;

export interface TCPRouteSpec {
  parentRefs?: ParentReference[];
  rules?: { name?: string; backendRefs?: (BackendObjectReference & { weight?: number })[] }[];
}

export type GatewayTCPRoute = Resource<'TCPRoute', TCPRouteSpec>;

/** Any resource this engine understands. */
export type L7Resource = VirtualService | DestinationRule | GatewayHTTPRoute | GRPCRoute | GatewayTCPRoute;
