// Validation: the structural schemas (schema.ts) plus the semantic rules Istio's webhook and the Gateway API CRDs'
// CEL rules enforce. Every issue names its field path (`spec.http[2].match[0].uri.regex`).
import { parse, parseAllDocuments } from 'yaml';
import { tryParseDuration } from './duration.js';
import { L7Error } from './errors.js';
import { re2SyntaxError } from './regex.js';
import type {
  DestinationRule,
  GatewayHTTPRoute,
  GatewayHTTPRouteFilter,
  GRPCRoute,
  HTTPRoute,
  L7Resource,
  StringMatch,
  TrafficPolicy,
  VirtualService,
} from './resources.js';
import {
  destinationRuleSpecSchema,
  grpcRouteSpecSchema,
  httpRouteSpecSchema,
  metadataSchema,
  tcpRouteSpecSchema,
  virtualServiceSpecSchema,
  type Schema,
} from './schema.js';

export interface ValidationIssue {
  /** Field path from the document root, e.g. `spec.http[2].match[0].uri.regex`. */
  readonly path: string;
  readonly message: string;
  /** Errors make the resource unusable; warnings flag config Istio accepts but that does not do what it says. */
  readonly severity: 'error' | 'warning';
}

type Issues = ValidationIssue[];

const KINDS: Record<string, { groups: Record<string, readonly string[]>; spec: Schema }> = {
  VirtualService: { groups: { 'networking.istio.io': ['v1', 'v1beta1', 'v1alpha3'] }, spec: virtualServiceSpecSchema },
  DestinationRule: {
    groups: { 'networking.istio.io': ['v1', 'v1beta1', 'v1alpha3'] },
    spec: destinationRuleSpecSchema,
  },
  HTTPRoute: { groups: { 'gateway.networking.k8s.io': ['v1', 'v1beta1'] }, spec: httpRouteSpecSchema },
  GRPCRoute: { groups: { 'gateway.networking.k8s.io': ['v1', 'v1alpha2'] }, spec: grpcRouteSpecSchema },
  TCPRoute: { groups: { 'gateway.networking.k8s.io': ['v1alpha2'] }, spec: tcpRouteSpecSchema },
};

/** Whether this engine reads documents of this apiVersion and kind. */
export function isSupportedKind(apiVersion: unknown, kind: unknown): boolean {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return false;
  const entry = KINDS[kind];
  const [group, version] = apiVersion.split('/');
  return !!entry && !!group && !!version && (entry.groups[group]?.includes(version) ?? false);
}

/** Every problem with one resource, errors and warnings, in document order. Never throws. */
export function validateResource(resource: unknown): ValidationIssue[] {
  const issues: Issues = [];
  if (!isObject(resource)) return [error('', 'a resource must be a mapping with apiVersion, kind, metadata and spec')];
  const { apiVersion, kind } = resource;
  if (!isSupportedKind(apiVersion, kind)) {
    issues.push(
      error(
        typeof kind === 'string' && KINDS[kind] ? 'apiVersion' : 'kind',
        `${String(apiVersion)} ${String(kind)} is not a kind this engine reads`,
      ),
    );
    return issues;
  }
  const entry = KINDS[kind as string]!;
  if (resource.metadata === undefined) issues.push(error('metadata', 'metadata.name is required'));
  else {
    walk(metadataSchema, resource.metadata, 'metadata', issues);
    if (isObject(resource.metadata) && typeof resource.metadata.name !== 'string')
      issues.push(error('metadata.name', 'is required'));
  }
  if (resource.spec === undefined) {
    issues.push(error('spec', 'is required'));
    return issues;
  }
  const structural = issues.length;
  walk(entry.spec, resource.spec, 'spec', issues);
  // Semantic rules assume the shapes are right; skip them where the structure is already wrong.
  if (issues.slice(structural).some((i) => i.severity === 'error')) return issues;
  switch (kind) {
    case 'VirtualService':
      checkVirtualService(resource as VirtualService, issues);
      break;
    case 'DestinationRule':
      checkDestinationRule(resource as DestinationRule, issues);
      break;
    case 'HTTPRoute':
      checkHttpRoute(resource as GatewayHTTPRoute, issues);
      break;
    case 'GRPCRoute':
      checkGrpcRoute(resource as GRPCRoute, issues);
      break;
  }
  return issues;
}

/**
 * Resources that passed assertValid, by identity: compiling many route tables from the same objects validates each
 * once. Resources are treated as immutable after validation (a mutated object is not validated again).
 */
const validated = new WeakSet<object>();

/** Throws ERR_L7_INVALID_RESOURCE listing every error (warnings do not throw) and returns the typed resource. */
export function assertValid<T extends L7Resource = L7Resource>(resource: unknown, where?: string): T {
  if (typeof resource === 'object' && resource !== null && validated.has(resource)) return resource as T;
  const issues = validateResource(resource);
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0) {
    const r = isObject(resource) ? resource : {};
    const meta = isObject(r.metadata) ? r.metadata : {};
    const name = `${String(r.kind ?? 'resource')} ${meta.namespace ? `${String(meta.namespace)}/` : ''}${String(meta.name ?? '(unnamed)')}`;
    const list = errors.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new L7Error('ERR_L7_INVALID_RESOURCE', `${where ? `${where}: ` : ''}${name} is invalid: ${list}`, {
      details: { issues },
    });
  }
  if (typeof resource === 'object' && resource !== null) validated.add(resource);
  return resource as T;
}

export interface ParseResourcesOptions {
  /** Namespace for documents without metadata.namespace (kubectl's `-n`). Default "default". */
  defaultNamespace?: string;
  /** Skip documents of other kinds instead of throwing ERR_L7_UNSUPPORTED_KIND. Default false. */
  skipUnsupported?: boolean;
}

/**
 * Parses multi-document YAML (or JSON, or a `kind: List`) into validated resources. Throws ERR_L7_INVALID_YAML,
 * ERR_L7_UNSUPPORTED_KIND or ERR_L7_INVALID_RESOURCE (messages name the document index and the field path).
 */
export function parseResources(text: string, options: ParseResourcesOptions = {}): L7Resource[] {
  const { defaultNamespace = 'default', skipUnsupported = false } = options;
  const out: L7Resource[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const values: unknown[] = [];
  for (const [index, doc] of list.entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new L7Error('ERR_L7_INVALID_YAML', `document ${index}: ${e.message}`, { cause: e });
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) values.push(...value.items);
    else values.push(value);
  }
  for (const [index, value] of values.entries()) {
    const doc = isObject(value) ? value : {};
    if (!isSupportedKind(doc.apiVersion, doc.kind)) {
      if (skipUnsupported) continue;
      throw new L7Error(
        'ERR_L7_UNSUPPORTED_KIND',
        `document ${index}: ${String(doc.apiVersion)} ${String(doc.kind)} is not a kind this engine reads`,
        { details: { index } },
      );
    }
    if (isObject(doc.metadata) && doc.metadata.namespace === undefined) doc.metadata.namespace = defaultNamespace;
    out.push(assertValid(doc, `document ${index}`));
  }
  return out;
}

/** Parses one YAML or JSON document without validating it (for tests that build invalid resources). */
export function parseYamlDocument(text: string): unknown {
  try {
    return parse(text);
  } catch (e) {
    throw new L7Error('ERR_L7_INVALID_YAML', (e as Error).message, { cause: e });
  }
}

// ------------------------------------------------------------------------------------------ structural walk

function walk(schema: Schema, value: unknown, path: string, issues: Issues): void {
  if (value === null || value === undefined) return;
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') return void issues.push(error(path, `must be a string, got ${typeOf(value)}`));
      if (schema.enum && !schema.enum.includes(value))
        issues.push(error(path, `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(value)}`));
      if (schema.minLength !== undefined && value.length < schema.minLength)
        issues.push(error(path, `must have at least ${schema.minLength} character(s)`));
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        issues.push(error(path, `must have at most ${schema.maxLength} characters`));
      if (schema.pattern && !schema.pattern.test(value))
        issues.push(
          error(
            path,
            `must be ${schema.patternName ?? `a match of ${String(schema.pattern)}`}, got ${JSON.stringify(value)}`,
          ),
        );
      return;
    case 'int':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value))
        return void issues.push(error(path, `must be a number, got ${typeOf(value)}`));
      if (schema.t === 'int' && !Number.isInteger(value))
        return void issues.push(error(path, `must be an integer, got ${value}`));
      if (schema.min !== undefined && value < schema.min) issues.push(error(path, `must be >= ${schema.min}`));
      if (schema.max !== undefined && value > schema.max) issues.push(error(path, `must be <= ${schema.max}`));
      return;
    case 'bool':
      if (typeof value !== 'boolean') issues.push(error(path, `must be true or false, got ${typeOf(value)}`));
      return;
    case 'duration':
      if (typeof value !== 'string' || tryParseDuration(value) === undefined)
        issues.push(error(path, `must be a duration such as "1.5s" or "250ms", got ${JSON.stringify(value)}`));
      return;
    case 'array':
      if (!Array.isArray(value)) return void issues.push(error(path, `must be a list, got ${typeOf(value)}`));
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        issues.push(error(path, `must have at most ${schema.maxItems} items`));
      value.forEach((item, i) => walk(schema.items, item, `${path}[${i}]`, issues));
      return;
    case 'map':
      if (!isObject(value)) return void issues.push(error(path, `must be a mapping, got ${typeOf(value)}`));
      for (const [k, v] of Object.entries(value)) walk(schema.values, v, member(path, k), issues);
      return;
    case 'object': {
      if (!isObject(value)) return void issues.push(error(path, `must be a mapping, got ${typeOf(value)}`));
      for (const field of schema.required ?? [])
        if (value[field] === undefined || value[field] === null) issues.push(error(join(path, field), 'is required'));
      for (const group of schema.oneOf ?? []) {
        const set = group.filter((f) => value[f] !== undefined && value[f] !== null);
        if (set.length > 1)
          issues.push(error(path, `only one of ${group.join(', ')} may be set (got ${set.join(', ')})`));
      }
      for (const [k, v] of Object.entries(value)) {
        const sub = schema.props[k];
        if (sub) walk(sub, v, join(path, k), issues);
        else if (!schema.open) issues.push(warning(join(path, k), 'unknown field (ignored)'));
      }
      return;
    }
  }
}

// ------------------------------------------------------------------------------------------ VirtualService rules

const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

export const GRPC_STATUS: Readonly<Record<string, number>> = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

export const REDIRECT_CODES: readonly number[] = [301, 302, 303, 307, 308];

function checkVirtualService(vs: VirtualService, issues: Issues): void {
  const spec = vs.spec!;
  const gateways = spec.gateways ?? [];
  const forMesh = gateways.length === 0 || gateways.includes('mesh');
  // A VirtualService without hosts is a delegate: it only takes effect through a root's `delegate`.
  const isDelegate = !spec.hosts || spec.hosts.length === 0;
  if (isDelegate && gateways.length > 0)
    issues.push(warning('spec.gateways', 'a delegate VirtualService (no hosts) ignores gateways; the root decides'));
  spec.hosts?.forEach((h, i) => {
    if (h === '*' && forMesh)
      issues.push(error(`spec.hosts[${i}]`, '"*" is not allowed for a VirtualService bound to the mesh'));
    else if (!validHost(h)) issues.push(error(`spec.hosts[${i}]`, `${JSON.stringify(h)} is not a valid host name`));
  });
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length)
    issues.push(error('spec', 'at least one of http, tcp or tls routes is required'));
  spec.http?.forEach((route, i) => {
    checkHttpRouteEntry(route, `spec.http[${i}]`, issues);
    if (isDelegate && route.delegate)
      issues.push(error(`spec.http[${i}].delegate`, 'a delegate VirtualService cannot delegate again'));
    if (route.delegate)
      route.match?.forEach((m, j) => {
        for (const f of ['uri', 'scheme', 'method', 'authority'] as const)
          if (m[f]?.regex !== undefined)
            issues.push(
              error(`spec.http[${i}].match[${j}].${f}.regex`, `${f} match does not support regex match for delegating`),
            );
      });
  });
  for (const proto of ['tcp', 'tls'] as const) {
    spec[proto]?.forEach((r, i) => {
      const p = `spec.${proto}[${i}]`;
      if (!r.route?.length) issues.push(error(`${p}.route`, 'at least one destination is required'));
      checkWeights(r.route ?? [], `${p}.route`, issues);
      if (proto === 'tls')
        (r as { match?: { sniHosts?: string[] }[] }).match?.forEach((m, j) => {
          if (!m.sniHosts?.length) issues.push(error(`${p}.match[${j}].sniHosts`, 'at least one SNI host is required'));
        });
    });
  }
}

function checkHttpRouteEntry(route: HTTPRoute, p: string, issues: Issues): void {
  const hasRoute = (route.route?.length ?? 0) > 0;
  if (route.delegate) {
    if (hasRoute || route.redirect || route.directResponse)
      issues.push(error(p, 'a delegate route cannot also have route, redirect or directResponse'));
    if (!route.delegate.name) issues.push(error(`${p}.delegate.name`, 'is required'));
  } else if (!hasRoute && !route.redirect && !route.directResponse) {
    issues.push(error(p, 'one of route, redirect or directResponse is required'));
  }
  if (hasRoute && route.redirect) issues.push(error(p, 'route and redirect cannot both be set'));
  if (hasRoute && route.directResponse) issues.push(error(p, 'route and directResponse cannot both be set'));
  if (route.rewrite && (route.redirect || route.directResponse))
    issues.push(error(`${p}.rewrite`, 'rewrite cannot be combined with redirect or directResponse'));
  if (route.fault && (route.redirect || route.directResponse))
    issues.push(error(`${p}.fault`, 'fault cannot be combined with redirect or directResponse'));
  if (route.mirror && route.mirrors) issues.push(error(p, 'mirror and mirrors cannot both be set'));

  route.match?.forEach((m, j) => {
    const mp = `${p}.match[${j}]`;
    for (const f of ['uri', 'scheme', 'method', 'authority'] as const)
      if (m[f]) checkStringMatch(m[f], `${mp}.${f}`, issues, false);
    for (const f of ['headers', 'withoutHeaders', 'queryParams'] as const) {
      for (const [name, sm] of Object.entries(m[f] ?? {})) {
        if (f !== 'queryParams' && name.length === 0) issues.push(error(`${mp}.${f}`, 'header name cannot be empty'));
        checkStringMatch(sm, member(`${mp}.${f}`, name), issues, true);
      }
    }
    if (m.port !== undefined && (m.port < 1 || m.port > 65_535))
      issues.push(error(`${mp}.port`, 'must be between 1 and 65535'));
  });

  checkHeaderOps(route.headers, `${p}.headers`, issues);
  route.route?.forEach((d, j) => {
    checkDestination(d.destination, `${p}.route[${j}].destination`, issues);
    checkHeaderOps(d.headers, `${p}.route[${j}].headers`, issues);
  });
  checkWeights(route.route ?? [], `${p}.route`, issues);

  if (route.redirect) {
    const code = route.redirect.redirectCode;
    if (code !== undefined && code !== 0 && !REDIRECT_CODES.includes(code))
      issues.push(
        warning(
          `${p}.redirect.redirectCode`,
          `${code} is not a redirect status (${REDIRECT_CODES.join(', ')}); Istio drops this route's action`,
        ),
      );
  }
  if (route.directResponse) {
    const s = route.directResponse.status!;
    if (s < 200 || s > 599) issues.push(error(`${p}.directResponse.status`, 'must be between 200 and 599'));
  }
  if (route.rewrite) {
    const rr = route.rewrite.uriRegexRewrite;
    if (rr) {
      if (route.rewrite.uri !== undefined)
        issues.push(error(`${p}.rewrite`, 'uri and uriRegexRewrite cannot both be set'));
      if (!rr.match) issues.push(error(`${p}.rewrite.uriRegexRewrite.match`, 'is required'));
      else checkRegex(rr.match, `${p}.rewrite.uriRegexRewrite.match`, issues);
      if (rr.rewrite === undefined) issues.push(error(`${p}.rewrite.uriRegexRewrite.rewrite`, 'is required'));
    }
    if (route.rewrite.authority !== undefined && hasAuthorityHeader(route))
      issues.push(error(`${p}.rewrite.authority`, 'the authority is also set through a host header operation'));
  }
  if (route.timeout !== undefined) checkMinDuration(route.timeout, `${p}.timeout`, issues);
  if (route.retries) {
    const r = route.retries;
    const rp = `${p}.retries`;
    if (r.attempts !== undefined && r.attempts < 0) issues.push(error(`${rp}.attempts`, 'cannot be negative'));
    if ((r.attempts ?? 0) === 0) {
      for (const f of ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'] as const)
        if (r[f] !== undefined)
          issues.push(error(`${rp}.${f}`, 'must not be set when attempts is 0 (retries are off)'));
    }
    if (r.perTryTimeout !== undefined) checkMinDuration(r.perTryTimeout, `${rp}.perTryTimeout`, issues);
    if (r.backoff !== undefined) checkMinDuration(r.backoff, `${rp}.backoff`, issues);
    if (r.retryOn !== undefined) {
      for (const item of r.retryOn.split(',').map((s) => s.trim())) {
        if (item === '') continue;
        if (/^\d+$/.test(item)) {
          const code = Number(item);
          if (code < 100 || code > 599)
            issues.push(error(`${rp}.retryOn`, `${item} is not an HTTP status code (100-599)`));
        } else if (!RETRY_ON.has(item))
          issues.push(error(`${rp}.retryOn`, `${JSON.stringify(item)} is not a retry policy`));
      }
    }
  }
  if (route.fault) {
    const f = route.fault;
    const fp = `${p}.fault`;
    if (!f.delay && !f.abort) issues.push(error(fp, 'at least one of delay or abort is required'));
    if (f.delay) {
      if (f.delay.exponentialDelay !== undefined)
        issues.push(error(`${fp}.delay.exponentialDelay`, 'exponentialDelay is not supported'));
      else if (f.delay.fixedDelay === undefined) issues.push(error(`${fp}.delay.fixedDelay`, 'is required'));
      else checkMinDuration(f.delay.fixedDelay, `${fp}.delay.fixedDelay`, issues);
      checkPercentage(f.delay.percentage?.value, `${fp}.delay.percentage.value`, issues);
      if (f.delay.percent !== undefined && (f.delay.percent < 0 || f.delay.percent > 100))
        issues.push(error(`${fp}.delay.percent`, 'must be between 0 and 100'));
    }
    if (f.abort) {
      const a = f.abort;
      if (a.http2Error !== undefined) issues.push(error(`${fp}.abort.http2Error`, 'http2Error is not supported'));
      else if (a.httpStatus === undefined && a.grpcStatus === undefined)
        issues.push(error(`${fp}.abort`, 'one of httpStatus or grpcStatus is required'));
      if (a.httpStatus !== undefined && (a.httpStatus < 200 || a.httpStatus > 599))
        issues.push(error(`${fp}.abort.httpStatus`, 'must be between 200 and 599'));
      if (a.grpcStatus !== undefined && !(a.grpcStatus in GRPC_STATUS))
        issues.push(error(`${fp}.abort.grpcStatus`, `${JSON.stringify(a.grpcStatus)} is not a gRPC status name`));
      checkPercentage(a.percentage?.value, `${fp}.abort.percentage.value`, issues);
    }
  }
  if (route.mirror) checkDestination(route.mirror, `${p}.mirror`, issues);
  route.mirrors?.forEach((m, j) => {
    checkDestination(m.destination, `${p}.mirrors[${j}].destination`, issues);
    checkPercentage(m.percentage?.value, `${p}.mirrors[${j}].percentage.value`, issues);
  });
  checkPercentage(route.mirrorPercentage?.value, `${p}.mirrorPercentage.value`, issues);
  if (route.mirrorPercent !== undefined && route.mirrorPercent > 100)
    issues.push(error(`${p}.mirrorPercent`, 'must be between 0 and 100'));
  if (route.corsPolicy) {
    const c = route.corsPolicy;
    if (c.allowOrigin && c.allowOrigins)
      issues.push(error(`${p}.corsPolicy`, 'allowOrigin and allowOrigins cannot both be set'));
    c.allowOrigins?.forEach((o, j) => checkStringMatch(o, `${p}.corsPolicy.allowOrigins[${j}]`, issues, false));
    if (c.maxAge !== undefined && (tryParseDuration(c.maxAge) ?? 0) % 1000 !== 0)
      issues.push(error(`${p}.corsPolicy.maxAge`, 'must be whole seconds'));
  }
}

/**
 * Istio's header operation names: never empty; pseudo-headers (":…") and "host" only as the authority in request
 * set/add (where they become the authority rewrite).
 */
function checkHeaderOps(headers: HTTPRoute['headers'], p: string, issues: Issues): void {
  if (!headers) return;
  for (const side of ['request', 'response'] as const) {
    const ops = headers[side];
    if (!ops) continue;
    const names: [string, string][] = [
      ...Object.keys(ops.set ?? {}).map((n) => ['set', n] as [string, string]),
      ...Object.keys(ops.add ?? {}).map((n) => ['add', n] as [string, string]),
      ...(ops.remove ?? []).map((n, i) => [`remove[${i}]`, n] as [string, string]),
    ];
    for (const [op, name] of names) {
      const path = op.startsWith('remove') ? `${p}.${side}.${op}` : member(`${p}.${side}.${op}`, name);
      const internal = name.startsWith(':') || name.toLowerCase() === 'host';
      const authority = /^(host|:authority)$/i.test(name);
      if (name === '') issues.push(error(path, 'header name cannot be empty'));
      else if (internal && !(side === 'request' && authority && !op.startsWith('remove')))
        issues.push(error(path, `invalid header ${JSON.stringify(name)}: header cannot have ":" prefix or be "host"`));
    }
  }
}

function hasAuthorityHeader(route: HTTPRoute): boolean {
  const ops = route.headers?.request;
  return [ops?.set, ops?.add].some((m) => m && Object.keys(m).some((k) => /^(host|:authority)$/i.test(k)));
}

function checkStringMatch(m: StringMatch, path: string, issues: Issues, presence: boolean): void {
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => m[k] !== undefined);
  if (set.length === 0 && !presence)
    issues.push(
      error(
        path,
        'one of exact, prefix or regex is required (an empty match only means "present" for headers and query parameters)',
      ),
    );
  if (m.regex !== undefined && !(presence && m.regex === '*')) checkRegex(m.regex, `${path}.regex`, issues);
}

function checkRegex(pattern: string, path: string, issues: Issues): void {
  const problem = re2SyntaxError(pattern);
  if (problem) issues.push(error(path, problem.replace(/^regex: /, '')));
}

function checkDestination(
  d: { host?: string; subset?: string; port?: { number?: number } } | undefined,
  path: string,
  issues: Issues,
): void {
  if (!d) return;
  if (!d.host) issues.push(error(`${path}.host`, 'is required'));
  else if (!validHost(d.host) || d.host.includes('*'))
    issues.push(error(`${path}.host`, `${JSON.stringify(d.host)} is not a valid destination host`));
  if (d.subset !== undefined && !isDns1123Label(d.subset))
    issues.push(error(`${path}.subset`, `${JSON.stringify(d.subset)} is not a valid subset name`));
  const port = d.port?.number;
  if (port !== undefined && (port < 1 || port > 65_535))
    issues.push(error(`${path}.port.number`, 'must be between 1 and 65535'));
}

function checkWeights(dests: { weight?: number }[], path: string, issues: Issues): void {
  let sum = 0;
  dests.forEach((d, j) => {
    if (d.weight !== undefined && d.weight < 0) issues.push(error(`${path}[${j}].weight`, 'cannot be negative'));
    sum += Math.max(0, d.weight ?? 0);
  });
  if (dests.length > 1 && sum === 0) issues.push(error(path, 'the weights of several destinations cannot add up to 0'));
}

/** Istio's validatePercentage: 0, or between 0.0001 and 100. */
function checkPercentage(value: number | undefined, path: string, issues: Issues): void {
  if (value !== undefined && (value < 0 || value > 100 || (value > 0 && value < 0.0001)))
    issues.push(error(path, 'must be 0 or between 0.0001 and 100'));
}

/** Istio's ValidateDuration: at least 1ms, whole milliseconds. */
function checkMinDuration(text: string, path: string, issues: Issues): void {
  const ms = tryParseDuration(text);
  if (ms === undefined) return;
  if (ms < 1) issues.push(error(path, 'must be at least 1ms'));
  else if (!Number.isInteger(Math.round(ms * 1e6) / 1e6))
    issues.push(error(path, 'only durations to ms precision are supported'));
}

function validHost(h: string): boolean {
  return /^(\*|(\*\.)?[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?)*\.?)$/.test(h);
}

// ------------------------------------------------------------------------------------------ DestinationRule rules

function checkDestinationRule(dr: DestinationRule, issues: Issues): void {
  const spec = dr.spec!;
  if (!spec.host) issues.push(error('spec.host', 'is required'));
  else if (!validHost(spec.host)) issues.push(error('spec.host', `${JSON.stringify(spec.host)} is not a valid host`));
  if (spec.trafficPolicy) checkTrafficPolicy(spec.trafficPolicy, 'spec.trafficPolicy', issues);
  const names = new Set<string>();
  spec.subsets?.forEach((s, i) => {
    const p = `spec.subsets[${i}]`;
    if (!s.name) return;
    if (names.has(s.name)) issues.push(error(`${p}.name`, `duplicate subset name ${JSON.stringify(s.name)}`));
    names.add(s.name);
    if (!isDns1123Label(s.name))
      issues.push(error(`${p}.name`, `${JSON.stringify(s.name)} is not a valid subset name`));
    if (s.trafficPolicy) checkTrafficPolicy(s.trafficPolicy, `${p}.trafficPolicy`, issues);
  });
}

function checkTrafficPolicy(tp: TrafficPolicy, p: string, issues: Issues): void {
  checkPolicyFields(tp, p, issues);
  const ports = new Set<number>();
  tp.portLevelSettings?.forEach((pl, i) => {
    const pp = `${p}.portLevelSettings[${i}]`;
    const n = pl.port?.number;
    if (n === undefined) issues.push(error(`${pp}.port`, 'is required'));
    else if (ports.has(n)) issues.push(error(`${pp}.port.number`, `port ${n} is listed twice`));
    else ports.add(n);
    checkPolicyFields(pl, pp, issues);
  });
}

function checkPolicyFields(tp: Omit<TrafficPolicy, 'portLevelSettings'>, p: string, issues: Issues): void {
  const ch = tp.loadBalancer?.consistentHash;
  if (ch) {
    const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const;
    if (!keys.some((k) => ch[k] !== undefined && ch[k] !== false))
      issues.push(error(`${p}.loadBalancer.consistentHash`, `one of ${keys.join(', ')} is required`));
    const size = ch.maglev?.tableSize;
    if (size !== undefined && size > 0 && !isPrime(size))
      issues.push(error(`${p}.loadBalancer.consistentHash.maglev.tableSize`, 'must be a prime number'));
  }
  const od = tp.outlierDetection;
  if (od) {
    for (const f of ['maxEjectionPercent', 'minHealthPercent'] as const)
      if (od[f] !== undefined && (od[f]! < 0 || od[f]! > 100))
        issues.push(error(`${p}.outlierDetection.${f}`, 'must be between 0 and 100'));
    for (const f of ['interval', 'baseEjectionTime'] as const)
      if (od[f] !== undefined) checkMinDuration(od[f]!, `${p}.outlierDetection.${f}`, issues);
  }
  const cp = tp.connectionPool;
  if (cp) {
    for (const [sect, fields] of [
      ['tcp', ['maxConnections']],
      ['http', ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries']],
    ] as const) {
      const obj = cp[sect] as Record<string, unknown> | undefined;
      for (const f of fields)
        if (typeof obj?.[f] === 'number' && (obj[f] as number) < 0)
          issues.push(error(`${p}.connectionPool.${sect}.${f}`, 'cannot be negative'));
    }
    if (cp.tcp?.connectTimeout !== undefined)
      checkMinDuration(cp.tcp.connectTimeout, `${p}.connectionPool.tcp.connectTimeout`, issues);
  }
}

function isDns1123Label(name: string): boolean {
  return name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

// ------------------------------------------------------------------------------------------ Gateway API rules

function checkHttpRoute(route: GatewayHTTPRoute, issues: Issues): void {
  route.spec!.rules?.forEach((rule, i) => {
    const p = `spec.rules[${i}]`;
    rule.matches?.forEach((m, j) => {
      const mp = `${p}.matches[${j}]`;
      const path = m.path;
      if (path?.value !== undefined) {
        const type = path.type ?? 'PathPrefix';
        if (type === 'RegularExpression') checkRegex(path.value, `${mp}.path.value`, issues);
        else checkGatewayPath(path.value, `${mp}.path.value`, issues);
      }
      checkGatewayHeaderMatches(m.headers, `${mp}.headers`, issues, true);
      checkGatewayHeaderMatches(m.queryParams, `${mp}.queryParams`, issues, false);
    });
    checkFilters(rule.filters, `${p}.filters`, issues, rule.matches);
    rule.backendRefs?.forEach((b, j) => {
      const bp = `${p}.backendRefs[${j}]`;
      if ((b.kind ?? 'Service') === 'Service' && (b.group ?? '') === '' && b.port === undefined)
        issues.push(error(`${bp}.port`, 'is required when the backend is a Service'));
      checkFilters(b.filters, `${bp}.filters`, issues, rule.matches);
      b.filters?.forEach((f, k) => {
        if (f.type !== 'RequestHeaderModifier' && f.type !== 'ResponseHeaderModifier' && f.type !== 'ExtensionRef')
          issues.push(
            warning(`${bp}.filters[${k}].type`, `Istio does not support ${f.type} on a backendRef; it is ignored`),
          );
      });
    });
    const t = rule.timeouts;
    if (t?.request !== undefined && t.backendRequest !== undefined) {
      const req = tryParseDuration(t.request)!;
      const be = tryParseDuration(t.backendRequest)!;
      if (req !== 0 && be > req)
        issues.push(
          error(`${p}.timeouts.backendRequest`, 'backendRequest timeout cannot be longer than request timeout'),
        );
    }
  });
}

function checkGrpcRoute(route: GRPCRoute, issues: Issues): void {
  route.spec!.rules?.forEach((rule, i) => {
    rule.matches?.forEach((m, j) => {
      const mp = `spec.rules[${i}].matches[${j}]`;
      if (m.method) {
        if (!m.method.service && !m.method.method)
          issues.push(error(`${mp}.method`, 'one or both of service and method must be specified'));
        if (m.method.type === 'RegularExpression') {
          if (m.method.service) checkRegex(m.method.service, `${mp}.method.service`, issues);
          if (m.method.method) checkRegex(m.method.method, `${mp}.method.method`, issues);
        }
      }
      checkGatewayHeaderMatches(m.headers, `${mp}.headers`, issues, true);
    });
    checkFilters(rule.filters, `spec.rules[${i}].filters`, issues, undefined);
  });
}

function checkGatewayPath(value: string, path: string, issues: Issues): void {
  if (!value.startsWith('/')) return void issues.push(error(path, 'must be an absolute path starting with "/"'));
  for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#'])
    if (value.includes(bad)) issues.push(error(path, `must not contain ${JSON.stringify(bad)}`));
  if (value.endsWith('/..') || value.endsWith('/.')) issues.push(error(path, 'must not end with "/." or "/.."'));
}

function checkGatewayHeaderMatches(
  list: { type?: string; name?: string; value?: string }[] | undefined,
  path: string,
  issues: Issues,
  caseInsensitive: boolean,
): void {
  const seen = new Set<string>();
  list?.forEach((h, k) => {
    const name = caseInsensitive ? h.name!.toLowerCase() : h.name!;
    if (seen.has(name))
      issues.push(error(`${path}[${k}].name`, `${JSON.stringify(h.name)} is matched twice in one match`));
    seen.add(name);
    if (h.type === 'RegularExpression') checkRegex(h.value!, `${path}[${k}].value`, issues);
  });
}

const FILTER_FIELD: Record<string, keyof GatewayHTTPRouteFilter> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
  ExternalAuth: 'externalAuth' as keyof GatewayHTTPRouteFilter,
};

function checkFilters(
  filters: GatewayHTTPRouteFilter[] | undefined,
  p: string,
  issues: Issues,
  matches: { path?: { type?: string } }[] | undefined,
): void {
  if (!filters) return;
  const seen = new Set<string>();
  filters.forEach((f, k) => {
    const fp = `${p}[${k}]`;
    const type = f.type!;
    const field = FILTER_FIELD[type];
    for (const [t, fld] of Object.entries(FILTER_FIELD)) {
      if (t !== type && f[fld] !== undefined)
        issues.push(error(`${fp}.${fld}`, `must not be set when type is ${type}`));
    }
    if (field && f[field] === undefined && type !== 'ExternalAuth')
      issues.push(error(`${fp}.${field}`, `is required when type is ${type}`));
    if (type !== 'RequestMirror' && type !== 'ExtensionRef') {
      if (seen.has(type)) issues.push(error(`${fp}.type`, `${type} may appear at most once in a filter list`));
      seen.add(type);
    }
    for (const hm of [f.requestHeaderModifier, f.responseHeaderModifier]) {
      if (!hm) continue;
      const names = new Set<string>();
      for (const [op, entries] of [
        ['set', hm.set],
        ['add', hm.add],
      ] as const) {
        entries?.forEach((e, n) => {
          const lower = e.name!.toLowerCase();
          if (names.has(`${op}:${lower}`))
            issues.push(error(`${fp}.${field}.${op}[${n}].name`, `${JSON.stringify(e.name)} appears twice`));
          names.add(`${op}:${lower}`);
        });
      }
    }
    const modifier = f.requestRedirect?.path ?? f.urlRewrite?.path;
    if (modifier) {
      const mp = `${fp}.${field}.path`;
      if (modifier.type === 'ReplaceFullPath' && modifier.replaceFullPath === undefined)
        issues.push(error(`${mp}.replaceFullPath`, 'is required when type is ReplaceFullPath'));
      if (modifier.type === 'ReplacePrefixMatch') {
        if (modifier.replacePrefixMatch === undefined)
          issues.push(error(`${mp}.replacePrefixMatch`, 'is required when type is ReplacePrefixMatch'));
        const prefixOnly = (matches ?? []).every((m) => (m.path?.type ?? 'PathPrefix') === 'PathPrefix');
        if (!prefixOnly)
          issues.push(error(`${mp}.type`, 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match'));
      }
    }
    const rc = f.requestRedirect?.statusCode;
    if (rc !== undefined && !REDIRECT_CODES.includes(rc))
      issues.push(error(`${fp}.requestRedirect.statusCode`, `must be one of ${REDIRECT_CODES.join(', ')}`));
  });
  if (seen.has('RequestRedirect') && seen.has('URLRewrite'))
    issues.push(error(p, 'RequestRedirect and URLRewrite cannot both be used in one rule'));
}

// ------------------------------------------------------------------------------------------ helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOf(v: unknown): string {
  return Array.isArray(v)
    ? 'a list'
    : v === null
      ? 'null'
      : typeof v === 'object'
        ? 'a mapping'
        : `${typeof v} ${JSON.stringify(v)}`;
}

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

/** A map entry's path; keys that are not identifiers are quoted: `headers["x-user"]`. */
function member(path: string, k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? join(path, k) : `${path}[${JSON.stringify(k)}]`;
}

function error(path: string, message: string): ValidationIssue {
  return { path, message, severity: 'error' };
}

function warning(path: string, message: string): ValidationIssue {
  return { path, message, severity: 'warning' };
}
