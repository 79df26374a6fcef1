// Structural schemas for the resources, written as data from the CRDs' OpenAPI (types, enums, required fields, oneOf
// groups, ranges). docs/DECISIONS.md says why they are not loaded from the published CRD YAML. Istio's semantic rules
// (the webhook's Go checks) live in validate.ts.

export type Schema =
  | {
      t: 'string';
      enum?: readonly string[];
      minLength?: number;
      maxLength?: number;
      pattern?: RegExp;
      patternName?: string;
    }
  | { t: 'int'; min?: number; max?: number }
  | { t: 'number'; min?: number; max?: number }
  | { t: 'bool' }
  | { t: 'duration' }
  | {
      t: 'object';
      props: Readonly<Record<string, Schema>>;
      required?: readonly string[];
      /** At most one of these fields may be set (protobuf oneof). */
      oneOf?: readonly (readonly string[])[];
      /** Unknown fields are accepted without a warning (free-form objects). */
      open?: boolean;
    }
  | { t: 'array'; items: Schema; maxItems?: number }
  | { t: 'map'; values: Schema }
  | { t: 'any' };

const str: Schema = { t: 'string' };
const bool: Schema = { t: 'bool' };
const dur: Schema = { t: 'duration' };
const u32: Schema = { t: 'int', min: 0, max: 4_294_967_295 };
const i32: Schema = { t: 'int', min: -2_147_483_648, max: 2_147_483_647 };
const strMap: Schema = { t: 'map', values: str };
const strList: Schema = { t: 'array', items: str };
const obj = (
  props: Record<string, Schema>,
  extra: { required?: string[]; oneOf?: string[][]; open?: boolean } = {},
): Schema => ({ t: 'object', props, ...extra });
const list = (items: Schema, maxItems?: number): Schema =>
  maxItems === undefined ? { t: 'array', items } : { t: 'array', items, maxItems };

export const metadataSchema: Schema = obj(
  {
    name: str,
    namespace: str,
    labels: strMap,
    annotations: strMap,
    creationTimestamp: str,
  },
  { open: true },
);

// ------------------------------------------------------------------------------------------ networking.istio.io

const stringMatch = obj({ exact: str, prefix: str, regex: str }, { oneOf: [['exact', 'prefix', 'regex']] });
const portSelector = obj({ number: u32 });
const destination = obj({ host: str, subset: str, port: portSelector }, { required: ['host'] });
const headerOps = obj({ set: strMap, add: strMap, remove: strList });
const headers = obj({ request: headerOps, response: headerOps });
const percent = obj({ value: { t: 'number' } });

const httpMatch = obj({
  name: str,
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: { t: 'map', values: stringMatch },
  port: u32,
  sourceLabels: strMap,
  gateways: strList,
  queryParams: { t: 'map', values: stringMatch },
  ignoreUriCase: bool,
  withoutHeaders: { t: 'map', values: stringMatch },
  sourceNamespace: str,
  statPrefix: str,
});

const httpRoute = obj(
  {
    name: str,
    match: list(httpMatch),
    route: list(obj({ destination, weight: i32, headers }, { required: ['destination'] })),
    redirect: obj(
      {
        uri: str,
        authority: str,
        port: u32,
        derivePort: { t: 'string', enum: ['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] },
        scheme: str,
        redirectCode: u32,
      },
      { oneOf: [['port', 'derivePort']] },
    ),
    directResponse: obj(
      {
        status: u32,
        body: obj({ string: str, bytes: str }, { oneOf: [['string', 'bytes']] }),
      },
      { required: ['status'] },
    ),
    delegate: obj({ name: str, namespace: str }),
    rewrite: obj({
      uri: str,
      authority: str,
      uriRegexRewrite: obj({ match: str, rewrite: str }),
    }),
    timeout: dur,
    retries: obj({
      attempts: i32,
      perTryTimeout: dur,
      retryOn: str,
      retryRemoteLocalities: bool,
      retryIgnorePreviousHosts: bool,
      backoff: dur,
    }),
    fault: obj({
      delay: obj(
        { fixedDelay: dur, exponentialDelay: dur, percentage: percent, percent: i32 },
        { oneOf: [['fixedDelay', 'exponentialDelay']] },
      ),
      abort: obj(
        { httpStatus: i32, grpcStatus: str, http2Error: str, percentage: percent },
        { oneOf: [['httpStatus', 'grpcStatus', 'http2Error']] },
      ),
    }),
    mirror: destination,
    mirrors: list(obj({ destination, percentage: percent }, { required: ['destination'] })),
    mirrorPercentage: percent,
    mirrorPercent: u32,
    corsPolicy: obj({
      allowOrigin: strList,
      allowOrigins: list(stringMatch),
      allowMethods: strList,
      allowHeaders: strList,
      exposeHeaders: strList,
      maxAge: dur,
      allowCredentials: bool,
      unmatchedPreflights: { t: 'string', enum: ['UNSPECIFIED', 'FORWARD', 'IGNORE'] },
    }),
    headers,
  },
  { oneOf: [['redirect', 'directResponse']] },
);

const l4Match = {
  destinationSubnets: strList,
  port: u32,
  sourceLabels: strMap,
  gateways: strList,
  sourceNamespace: str,
};
const routeDestination = obj({ destination, weight: i32 }, { required: ['destination'] });

export const virtualServiceSpecSchema: Schema = obj({
  hosts: strList,
  gateways: strList,
  http: list(httpRoute),
  tls: list(obj({ match: list(obj({ ...l4Match, sniHosts: strList })), route: list(routeDestination) })),
  tcp: list(obj({ match: list(obj(l4Match)), route: list(routeDestination) })),
  exportTo: strList,
});

const lbSimple = {
  t: 'string',
  enum: ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'],
} as const;
const loadBalancer = obj(
  {
    simple: lbSimple,
    consistentHash: obj(
      {
        httpHeaderName: str,
        httpCookie: obj(
          { name: str, path: str, ttl: dur, attributes: list(obj({ name: str, value: str }, { required: ['name'] })) },
          { required: ['name'] },
        ),
        useSourceIp: bool,
        httpQueryParameterName: str,
        ringHash: obj({ minimumRingSize: { t: 'int', min: 0 } }),
        maglev: obj({ tableSize: { t: 'int', min: 0 } }),
        minimumRingSize: { t: 'int', min: 0 },
      },
      {
        oneOf: [
          ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
          ['ringHash', 'maglev', 'minimumRingSize'],
        ],
      },
    ),
    localityLbSetting: obj({}, { open: true }),
    warmupDurationSecs: dur,
    warmup: obj(
      {
        duration: dur,
        minimumPercent: { t: 'number', min: 0, max: 100 },
        aggression: { t: 'number', min: 1 },
      },
      { required: ['duration'] },
    ),
  },
  { oneOf: [['simple', 'consistentHash']] },
);
const connectionPool = obj({
  tcp: obj({
    maxConnections: i32,
    connectTimeout: dur,
    tcpKeepalive: obj({ probes: u32, time: dur, interval: dur }),
    maxConnectionDuration: dur,
    idleTimeout: dur,
  }),
  http: obj({
    http1MaxPendingRequests: i32,
    http2MaxRequests: i32,
    maxRequestsPerConnection: i32,
    maxRetries: i32,
    idleTimeout: dur,
    h2UpgradePolicy: { t: 'string', enum: ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] },
    useClientProtocol: bool,
    maxConcurrentStreams: i32,
  }),
});
const outlierDetection = obj({
  splitExternalLocalOriginErrors: bool,
  consecutiveLocalOriginFailures: u32,
  consecutiveGatewayErrors: u32,
  consecutive5xxErrors: u32,
  consecutiveErrors: i32,
  interval: dur,
  baseEjectionTime: dur,
  maxEjectionPercent: i32,
  minHealthPercent: i32,
});
const tls = obj({ mode: { t: 'string', enum: ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] } }, { open: true });
const trafficPolicyFields = { loadBalancer, connectionPool, outlierDetection, tls };
const trafficPolicy = obj({
  ...trafficPolicyFields,
  portLevelSettings: list(obj({ port: portSelector, ...trafficPolicyFields })),
  tunnel: obj({}, { open: true }),
  proxyProtocol: obj({}, { open: true }),
  retryBudget: obj({}, { open: true }),
});

export const destinationRuleSpecSchema: Schema = obj(
  {
    host: str,
    trafficPolicy,
    subsets: list(obj({ name: str, labels: strMap, trafficPolicy }, { required: ['name'] })),
    exportTo: strList,
    workloadSelector: obj({ matchLabels: strMap }),
  },
  { required: ['host'] },
);

// ------------------------------------------------------------------------------------------ gateway.networking.k8s.io

// Patterns of the Gateway API types (apis/v1/shared_types.go).
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const gwGroup: Schema = {
  t: 'string',
  maxLength: 253,
  pattern: /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  patternName: 'a DNS subdomain or ""',
};
const gwKind: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/,
  patternName: 'a kind name',
};
const gwNamespace: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  patternName: 'a DNS label',
};
const gwSectionName: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: dnsSubdomain,
  patternName: 'a DNS subdomain',
};
const gwPreciseHostname: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: dnsSubdomain,
  patternName: 'a lower-case host name',
};
const gwHostname: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  patternName: 'a lower-case host name, optionally with a "*." prefix',
};
const gwHeaderName: Schema = {
  t: 'string',
  minLength: 1,
  maxLength: 256,
  pattern: /^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$/,
  patternName: 'an HTTP header name',
};

const parentRef = obj(
  {
    group: gwGroup,
    kind: gwKind,
    namespace: gwNamespace,
    name: { t: 'string', minLength: 1, maxLength: 253 },
    sectionName: gwSectionName,
    port: { t: 'int', min: 1, max: 65_535 },
  },
  { required: ['name'] },
);
const headerName = gwHeaderName;
const headerValue = { t: 'string', minLength: 1, maxLength: 4096 } as const;
const headerFilter = obj({
  set: list(obj({ name: headerName, value: headerValue }, { required: ['name', 'value'] }), 16),
  add: list(obj({ name: headerName, value: headerValue }, { required: ['name', 'value'] }), 16),
  remove: list(headerName, 16),
});
const pathModifier = obj(
  {
    type: { t: 'string', enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] },
    replaceFullPath: { t: 'string', maxLength: 1024 },
    replacePrefixMatch: { t: 'string', maxLength: 1024 },
  },
  { required: ['type'] },
);
const backendObjectRef = {
  group: gwGroup,
  kind: gwKind,
  name: { t: 'string', minLength: 1, maxLength: 253 },
  namespace: gwNamespace,
  port: { t: 'int', min: 1, max: 65_535 },
} as const;
const filter = obj(
  {
    type: {
      t: 'string',
      enum: [
        'RequestHeaderModifier',
        'ResponseHeaderModifier',
        'RequestMirror',
        'RequestRedirect',
        'URLRewrite',
        'ExtensionRef',
        'CORS',
        'ExternalAuth',
      ],
    },
    requestHeaderModifier: headerFilter,
    responseHeaderModifier: headerFilter,
    requestMirror: obj(
      {
        backendRef: obj(backendObjectRef, { required: ['name'] }),
        percent: { t: 'int', min: 0, max: 100 },
        fraction: obj(
          { numerator: { t: 'int', min: 0 }, denominator: { t: 'int', min: 1 } },
          { required: ['numerator'] },
        ),
      },
      { required: ['backendRef'], oneOf: [['percent', 'fraction']] },
    ),
    requestRedirect: obj({
      scheme: { t: 'string', enum: ['http', 'https'] },
      hostname: gwPreciseHostname,
      path: pathModifier,
      port: { t: 'int', min: 1, max: 65_535 },
      statusCode: { t: 'int', min: 300, max: 399 },
    }),
    urlRewrite: obj({ hostname: gwPreciseHostname, path: pathModifier }),
    cors: obj({
      allowOrigins: strList,
      allowCredentials: bool,
      allowMethods: strList,
      allowHeaders: strList,
      exposeHeaders: strList,
      maxAge: { t: 'int', min: 1 },
    }),
    extensionRef: obj({}, { open: true }),
    externalAuth: obj({}, { open: true }),
  },
  { required: ['type'] },
);
const matchType = (values: string[]): Schema => ({ t: 'string', enum: values });
const headerMatch = obj(
  { type: matchType(['Exact', 'RegularExpression']), name: headerName, value: headerValue },
  { required: ['name', 'value'] },
);
const httpRouteMatch = obj({
  path: obj({ type: matchType(['Exact', 'PathPrefix', 'RegularExpression']), value: { t: 'string', maxLength: 1024 } }),
  headers: list(headerMatch, 16),
  queryParams: list(headerMatch, 16),
  method: matchType(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']),
});
const backendRef = obj(
  { ...backendObjectRef, weight: { t: 'int', min: 0, max: 1_000_000 }, filters: list(filter, 16) },
  { required: ['name'] },
);

export const httpRouteSpecSchema: Schema = obj({
  parentRefs: list(parentRef, 32),
  hostnames: list(gwHostname, 16),
  rules: list(
    obj({
      name: gwSectionName,
      matches: list(httpRouteMatch, 64),
      filters: list(filter, 16),
      backendRefs: list(backendRef, 16),
      timeouts: obj({ request: dur, backendRequest: dur }),
      retry: obj({ codes: list({ t: 'int', min: 400, max: 599 }), attempts: { t: 'int', min: 0 }, backoff: dur }),
      sessionPersistence: obj({}, { open: true }),
    }),
    16,
  ),
});

export const grpcRouteSpecSchema: Schema = obj({
  parentRefs: list(parentRef, 32),
  hostnames: list(gwHostname, 16),
  rules: list(
    obj({
      name: gwSectionName,
      matches: list(
        obj({
          method: obj({ type: matchType(['Exact', 'RegularExpression']), service: str, method: str }),
          headers: list(headerMatch, 16),
        }),
        64,
      ),
      filters: list(filter, 16),
      backendRefs: list(backendRef, 16),
      sessionPersistence: obj({}, { open: true }),
    }),
    16,
  ),
});

export const tcpRouteSpecSchema: Schema = obj({
  parentRefs: list(parentRef, 32),
  rules: list(
    obj({
      name: gwSectionName,
      backendRefs: list(obj({ ...backendObjectRef, weight: { t: 'int', min: 0, max: 1_000_000 } }), 16),
    }),
    16,
  ),
});
