// Compiles VirtualServices, Gateway API routes and DestinationRules into the route table of one (proxy, Service host,
// port), and makes decisions with it. Semantics: reference §3 (VirtualService), §4 (DestinationRule), §5 (HTTPRoute).
import type { Rng } from '@mesh/core';
import {
  DEFAULT_TRAFFIC_POLICY,
  compareByAge,
  effectiveTrafficPolicy,
  exportedTo,
  hostMatches,
  namespaceOfHost,
  resolveDestinationRule,
  resolveHost,
  type MergedDestinationRule,
  type ResolvedTrafficPolicy,
} from './destination-rule.js';
import {
  NO_HEADER_OPS,
  type CorsPolicyCompiled,
  type FaultDecision,
  type HeaderOps,
  type MirrorDecision,
  type RetryPolicy,
  type RouteDecision,
  type RouteInfo,
  type RouteRequest,
  type WeightedBackend,
} from './decision.js';
import { tryParseDuration } from './duration.js';
import { L7Error } from './errors.js';
import { normalizePath, parseQuery, type PathNormalization } from './path.js';
import { compileRe2, type Re2 } from './regex.js';
import type {
  BackendObjectReference,
  CorsPolicy,
  DestinationRule,
  GatewayHTTPBackendRef,
  GatewayHTTPRoute,
  GatewayHTTPRouteFilter,
  GatewayHTTPRouteMatch,
  GRPCRoute,
  HTTPPathModifier,
  Headers,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  L7Resource,
  StringMatch,
  VirtualService,
} from './resources.js';
import { GRPC_STATUS, REDIRECT_CODES, assertValid } from './validate.js';

// ------------------------------------------------------------------------------------------ public types

export interface ServiceRef {
  /** FQDN, e.g. reviews.default.svc.cluster.local. */
  hostname: string;
  namespace: string;
  /** The Service port this table serves. */
  port: number;
  /** Every port of the Service (a destination without a port uses the only one when there is exactly one). */
  ports?: readonly number[];
}

export type ProxyRef =
  /** A waypoint: sourceLabels matches never match, sourceNamespace compares with the waypoint's namespace. */
  | { kind: 'waypoint'; namespace: string }
  /** A sidecar-style client proxy: sourceLabels/sourceNamespace compare with the request's `source`. */
  | { kind: 'sidecar'; namespace: string };

export interface CompileOptions {
  service: ServiceRef;
  /** Default: a waypoint in the Service's namespace. */
  proxy?: ProxyRef;
  /** Any mix of resources (e.g. from parseResources); sorted by kind and added to the lists below. */
  resources?: readonly L7Resource[];
  /** Every VirtualService in the mesh; the compiler picks the ones that apply (namespace, host, gateways, exportTo). */
  virtualServices?: readonly VirtualService[];
  /** Every HTTPRoute; those with a parentRef to this Service (and port) apply. */
  httpRoutes?: readonly GatewayHTTPRoute[];
  /** Every GRPCRoute; those with a parentRef to this Service (and port) apply. */
  grpcRoutes?: readonly GRPCRoute[];
  /** Every DestinationRule; resolved per destination host as Istio does (proxy ns, service ns, root ns). */
  destinationRules?: readonly DestinationRule[];
  /** Default cluster.local. */
  domainSuffix?: string;
  /** Default istio-system. */
  rootNamespace?: string;
  /** MeshConfig pathNormalization; default BASE. */
  pathNormalization?: PathNormalization;
  /** Ports of a destination host, to pick the port of a destination written without one. */
  servicePorts?: (host: string) => readonly number[] | undefined;
  /** Whether a destination host exists; unknown hosts blackhole (503) at runtime. Default: every host exists. */
  hostExists?: (host: string) => boolean;
  /** Gateway API ReferenceGrant check for cross-namespace backendRefs. Default: no grants (such refs answer 500). */
  referenceGrantAllows?: (
    from: { namespace: string; kind: string },
    to: { namespace: string; kind: string; name: string },
  ) => boolean;
  /** Validate every resource first (ERR_L7_INVALID_RESOURCE). Default true. */
  validate?: boolean;
  /**
   * Build the candidate index (exact header values, whole path segments, literal path prefixes) that lets a request
   * skip routes it cannot match. Decisions are the same either way. Default: for tables of 16 routes or more.
   */
  index?: boolean;
}

export interface CompileDiagnostic {
  /** `namespace/name` of the resource, or null. */
  readonly resource: string | null;
  readonly path: string | null;
  readonly message: string;
}

export interface DecisionOptions {
  /** Draws weighted backends, fault and mirror percentages. */
  rng: Rng;
}

export interface RouteTable {
  readonly service: Readonly<ServiceRef>;
  /** Which kind of config produced the routes. */
  readonly source: 'VirtualService' | 'HTTPRoute' | 'default';
  /** The routes in evaluation order. */
  readonly routes: readonly RouteInfo[];
  /** Things a user would want to know: dropped matches, unreachable routes, ignored resources. */
  readonly diagnostics: readonly CompileDiagnostic[];
  /** Decides where one request goes. Pure: the only randomness comes from `options.rng`. */
  route(request: RouteRequest, options: DecisionOptions): RouteDecision;
}

// ------------------------------------------------------------------------------------------ compiled shapes

const enum Kind {
  Exact = 1,
  Prefix = 2,
  Regex = 3,
  Present = 4,
}

interface StrMatcher {
  kind: Kind;
  value: string;
  re: Re2 | null;
}

interface HeaderMatcher {
  name: string;
  m: StrMatcher;
  invert: boolean;
  /** For `@request.auth.claims.a.b` keys: the claim path ["a", "b"], matched against request.jwtClaims. */
  claim: string[] | null;
}

const CLAIM_PREFIX = '@request.auth.claims.';

function headerMatcher(name: string, sm: StringMatch, invert: boolean): HeaderMatcher {
  const claim = name.startsWith(CLAIM_PREFIX) ? name.slice(CLAIM_PREFIX.length).split('.') : null;
  return { name: claim ? name : name.toLowerCase(), m: strMatcher(sm, true), invert, claim };
}

const enum PathKind {
  None = 0,
  Exact = 1,
  Prefix = 2,
  SegmentPrefix = 3,
  Regex = 4,
}

interface CompiledMatch {
  index: number;
  /** "<resource> spec.http[i].match[j] matched", built once. */
  reason: string | null;
  /** The route's info with this match's index (shared by every decision through this match). */
  info: RouteInfo | null;
  never: boolean;
  port: number;
  pathKind: PathKind;
  pathValue: string;
  ignoreCase: boolean;
  /** A literal every matching path starts with (compared first, cheaply). */
  gate: string;
  /** Literals a regex path match needs somewhere in the path (checked before the regex runs). */
  required: string[];
  pathRe: Re2 | null;
  method: StrMatcher | null;
  scheme: StrMatcher | null;
  authority: StrMatcher | null;
  headers: HeaderMatcher[];
  query: { name: string; m: StrMatcher }[];
  sourceLabels: Record<string, string> | null;
  sourceNamespace: string | null;
}

type PathRewrite =
  | { kind: 'none' }
  | { kind: 'vs-prefix'; value: string }
  | { kind: 'full'; value: string }
  | { kind: 'regex'; re: Re2; rewrite: string }
  | { kind: 'segment-prefix'; value: string };

interface RedirectSpec {
  status: number;
  scheme: string | null;
  host: string | null;
  /** number: explicit; 'protocol': scheme default (omitted); 'request': the request's port; null: keep the authority's. */
  port: number | 'protocol' | 'request' | null;
  path: PathRewrite;
}

interface CompiledRoute {
  info: RouteInfo;
  /** Explanations, built once. */
  reasons: { matched: string; redirect: string; direct: string };
  matches: CompiledMatch[];
  backends: WeightedBackend[];
  cumulative: Float64Array;
  total: number;
  redirect: RedirectSpec | null;
  directResponse: { status: number; body: string | null } | null;
  routeRequestHeaders: HeaderOps;
  routeResponseHeaders: HeaderOps;
  rewritePath: PathRewrite;
  authorityRewrite: string | null;
  fault: {
    delay: { delayMs: number; percentage: number; threshold: number } | null;
    abort: {
      httpStatus: number | null;
      grpcStatus: string | null;
      grpcCode: number | null;
      percentage: number;
      threshold: number;
    } | null;
  } | null;
  retryPolicy: RetryPolicy | null;
  timeoutMs: number;
  mirrors: { host: string; subset: string | null; port: number; percentage: number; threshold: number }[];
  cors: CorsPolicyCompiled | null;
}

// ------------------------------------------------------------------------------------------ Istio defaults

export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/** Istio's retry policy for routes without `retries` (and for the default route). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 2,
  retryOn: DEFAULT_RETRY_ON,
  retriableStatusCodes: Object.freeze([]) as readonly number[],
  perTryTimeoutMs: 0,
  backoffBaseMs: 25,
  retryIgnorePreviousHosts: true,
  hostSelectionRetryMaxAttempts: 5,
  retryRemoteLocalities: false,
});

// ------------------------------------------------------------------------------------------ compiler

/**
 * Compiles the route table for one Service port as seen by one proxy. Throws ERR_L7_INVALID_RESOURCE for invalid
 * resources (unless `validate: false`) and ERR_L7_INVALID_OPTIONS for a malformed `service`.
 */
export function compileRouteTable(input: CompileOptions): RouteTable {
  const options = withResources(input);
  const { service } = options;
  if (
    !service ||
    typeof service.hostname !== 'string' ||
    !service.hostname ||
    !(service.port >= 1 && service.port <= 65_535)
  )
    throw new L7Error('ERR_L7_INVALID_OPTIONS', 'service needs a hostname (FQDN) and a port between 1 and 65535');
  const ctx = new Context(options);
  const validate = options.validate ?? true;
  if (validate) {
    for (const r of [
      ...(options.virtualServices ?? []),
      ...(options.httpRoutes ?? []),
      ...(options.grpcRoutes ?? []),
      ...(options.destinationRules ?? []),
    ])
      assertValid(r);
  }

  const gatewayRoutes = ctx.gatewayRoutes();
  let compiled: CompiledRoute[];
  let source: RouteTable['source'];
  if (gatewayRoutes.length > 0) {
    compiled = gatewayRoutes;
    source = 'HTTPRoute';
    if (ctx.selectedVirtualServices().length > 0)
      ctx.diag(
        null,
        null,
        'both HTTPRoutes and VirtualServices apply to this Service; the HTTPRoutes are used (mixing them is undefined in Istio)',
      );
  } else {
    const vss = ctx.selectedVirtualServices();
    if (vss.length > 0) {
      compiled = ctx.virtualServiceRoutes(vss);
      source = 'VirtualService';
    } else {
      compiled = [ctx.defaultRoute()];
      source = 'default';
    }
  }
  return new Table(ctx, compiled, source);
}

/**
 * The VirtualServices that apply to a Service at a proxy, oldest first: bound to the mesh, exported to the proxy's
 * namespace, with a host that covers the Service, and (at a waypoint) in the Service's or the waypoint's namespace.
 */
export function selectVirtualServices(
  all: readonly VirtualService[],
  service: ServiceRef,
  proxy: ProxyRef,
  domainSuffix = 'cluster.local',
): VirtualService[] {
  const svc = service.hostname.toLowerCase();
  return all
    .filter((vs) => {
      const ns = vs.metadata?.namespace ?? 'default';
      const spec = vs.spec;
      const gateways = spec?.gateways ?? [];
      if (!spec || (gateways.length > 0 && !gateways.includes('mesh'))) return false;
      if (!exportedTo(spec.exportTo, ns, proxy.namespace)) return false;
      if (proxy.kind === 'waypoint' && ns !== service.namespace && ns !== proxy.namespace) return false;
      return (spec.hosts ?? []).some((h) => hostMatches(resolveHost(h, ns, domainSuffix), svc));
    })
    .sort(compareByAge);
}

function withResources(o: CompileOptions): CompileOptions {
  if (!o.resources?.length) return o;
  const of = <K extends L7Resource['kind']>(kind: K) =>
    o.resources!.filter((r): r is Extract<L7Resource, { kind?: K }> => r.kind === kind);
  return {
    ...o,
    virtualServices: [...(o.virtualServices ?? []), ...(of('VirtualService') as VirtualService[])],
    httpRoutes: [...(o.httpRoutes ?? []), ...(of('HTTPRoute') as GatewayHTTPRoute[])],
    grpcRoutes: [...(o.grpcRoutes ?? []), ...(of('GRPCRoute') as GRPCRoute[])],
    destinationRules: [...(o.destinationRules ?? []), ...(of('DestinationRule') as DestinationRule[])],
  };
}

class Context {
  readonly suffix: string;
  readonly root: string;
  readonly proxy: ProxyRef;
  readonly diagnostics: CompileDiagnostic[] = [];
  readonly drCache = new Map<string, MergedDestinationRule | null>();
  readonly policyCache = new Map<string, ResolvedTrafficPolicy>();
  readonly normalization: PathNormalization;

  constructor(readonly options: CompileOptions) {
    this.suffix = options.domainSuffix ?? 'cluster.local';
    this.root = options.rootNamespace ?? 'istio-system';
    this.proxy = options.proxy ?? { kind: 'waypoint', namespace: options.service.namespace };
    this.normalization = options.pathNormalization ?? 'BASE';
  }

  get service(): ServiceRef {
    return this.options.service;
  }

  diag(resource: string | null, path: string | null, message: string): void {
    this.diagnostics.push({ resource, path, message });
  }

  // -------------------------------------------------------------------------------- selection

  selectedVirtualServices(): VirtualService[] {
    return selectVirtualServices(this.options.virtualServices ?? [], this.service, this.proxy, this.suffix).filter(
      (vs) => (vs.spec?.http?.length ?? 0) > 0,
    );
  }

  // -------------------------------------------------------------------------------- VirtualService

  virtualServiceRoutes(vss: VirtualService[]): CompiledRoute[] {
    const out: CompiledRoute[] = [];
    let catchAll: string | null = null;
    for (const vs of vss) {
      for (const { http, index, ns, res } of this.expandDelegates(vs)) {
        const path = `spec.http[${index}]`;
        if (catchAll) {
          this.diag(res, path, `unreachable: ${catchAll} before it matches every request`);
          continue;
        }
        if (http.redirect?.redirectCode && !REDIRECT_CODES.includes(http.redirect.redirectCode)) {
          this.diag(res, `${path}.redirect.redirectCode`, 'not a redirect status; Istio drops this route');
          continue;
        }
        const route = this.compileVsRoute(http, index, ns, res);
        if (route.matches.length > 0 && route.matches.every((m) => m.never)) {
          this.diag(
            res,
            `${path}.match`,
            'no match of this route can apply at this proxy (sourceLabels, gateways or sourceNamespace); it never matches',
          );
        }
        if (route.matches.length === 0 || route.matches.some((m) => isCatchAll(m))) catchAll = `${res} ${path}`;
        out.push(route);
      }
    }
    return out;
  }

  /**
   * A root VirtualService's http routes with each `delegate` replaced by the delegate VirtualService's routes, their
   * matches merged with the root route's (Istio's mergeVirtualServicesIfNeeded): a delegate match must narrow the root
   * match (conflicting pairs are dropped), and fields the delegate route leaves unset come from the root route.
   */
  private expandDelegates(vs: VirtualService): { http: HTTPRoute; index: number; ns: string; res: string }[] {
    const ns = vs.metadata?.namespace ?? 'default';
    const res = `${ns}/${vs.metadata?.name ?? ''}`;
    const out: { http: HTTPRoute; index: number; ns: string; res: string }[] = [];
    (vs.spec!.http ?? []).forEach((http, index) => {
      if (!http.delegate) return void out.push({ http, index, ns, res });
      const dns = http.delegate.namespace || ns;
      const name = http.delegate.name;
      const delegate = (this.options.virtualServices ?? []).find(
        (d) => d.metadata?.name === name && (d.metadata?.namespace ?? 'default') === dns && !d.spec?.hosts?.length,
      );
      if (!delegate || !exportedTo(delegate.spec?.exportTo, dns, ns)) {
        this.diag(
          res,
          `spec.http[${index}].delegate`,
          `delegate VirtualService ${dns}/${name} not found (or not exported to ${ns}); the route is skipped`,
        );
        return;
      }
      const dres = `${dns}/${name}`;
      (delegate.spec!.http ?? []).forEach((dh, j) => {
        if (dh.delegate) {
          this.diag(
            dres,
            `spec.http[${j}].delegate`,
            'a delegate VirtualService cannot delegate again; the route is skipped',
          );
          return;
        }
        const merged = mergeDelegateRoute(http, dh);
        if (!merged) {
          this.diag(
            dres,
            `spec.http[${j}].match`,
            `no match is compatible with the root route ${res} spec.http[${index}]; the route is skipped`,
          );
          return;
        }
        out.push({ http: merged, index: j, ns: dns, res: dres });
      });
    });
    return out;
  }

  private compileVsRoute(http: HTTPRoute, index: number, ns: string, res: string): CompiledRoute {
    const info: RouteInfo = {
      name: http.name ?? `${res}/${index}`,
      kind: 'VirtualService',
      resource: res,
      ruleIndex: index,
      matchIndex: -1,
    };
    const matches = (http.match ?? []).map((m, j) => this.compileVsMatch(m, j, res, `spec.http[${index}].match[${j}]`));
    const routeReq = headerOps(http.headers?.request);
    const routeResp = headerOps(http.headers?.response);
    const authorityFromHeaders = hostHeader(http.headers?.request);
    const backends = this.vsBackends(http.route ?? [], ns, routeReq, routeResp);
    let redirect: RedirectSpec | null = null;
    if (http.redirect) {
      const r = http.redirect;
      redirect = {
        status: r.redirectCode || 301,
        scheme: r.scheme || null,
        host: r.authority || null,
        port:
          r.port !== undefined && r.port !== 0
            ? r.port
            : r.derivePort === 'FROM_PROTOCOL_DEFAULT'
              ? 'protocol'
              : r.derivePort === 'FROM_REQUEST_PORT'
                ? 'request'
                : null,
        path: r.uri ? { kind: 'full', value: r.uri } : { kind: 'none' },
      };
    }
    let rewritePath: PathRewrite = { kind: 'none' };
    const rw = http.rewrite;
    if (rw?.uriRegexRewrite?.match !== undefined)
      rewritePath = {
        kind: 'regex',
        re: compileRe2(rw.uriRegexRewrite.match),
        rewrite: rw.uriRegexRewrite.rewrite ?? '',
      };
    else if (rw?.uri !== undefined && rw.uri !== '') rewritePath = { kind: 'vs-prefix', value: rw.uri };
    return this.finish({
      info,
      matches,
      backends,
      redirect,
      directResponse: http.directResponse
        ? {
            status: http.directResponse.status!,
            body:
              http.directResponse.body?.string ??
              (http.directResponse.body?.bytes !== undefined ? decodeBase64(http.directResponse.body.bytes) : null),
          }
        : null,
      routeRequestHeaders: routeReq,
      routeResponseHeaders: routeResp,
      rewritePath,
      authorityRewrite: rw?.authority || authorityFromHeaders || null,
      fault: compileFault(http),
      retryPolicy: compileVsRetries(http),
      timeoutMs: http.timeout !== undefined ? (tryParseDuration(http.timeout) ?? 0) : 0,
      mirrors: this.vsMirrors(http, ns),
      cors: http.corsPolicy ? compileCors(http.corsPolicy) : null,
    });
  }

  private compileVsMatch(m: HTTPMatchRequest, index: number, res: string, path: string): CompiledMatch {
    const ignoreCase = m.ignoreUriCase === true;
    let never = false;
    const gateways = m.gateways ?? [];
    if (gateways.length > 0 && !gateways.includes('mesh')) never = true;
    let sourceLabels: Record<string, string> | null = null;
    let sourceNamespace: string | null = null;
    if (gateways.length === 0) {
      const labels = m.sourceLabels && Object.keys(m.sourceLabels).length > 0 ? m.sourceLabels : null;
      if (this.proxy.kind === 'waypoint') {
        if (labels) {
          never = true;
          this.diag(
            res,
            `${path}.sourceLabels`,
            'sourceLabels are dropped at a waypoint: this match never matches (istio/istio#51565)',
          );
        }
        if (m.sourceNamespace && m.sourceNamespace !== this.proxy.namespace) never = true;
      } else {
        sourceLabels = labels;
        sourceNamespace = m.sourceNamespace || null;
      }
    }
    const compiled: CompiledMatch = {
      ...blankMatch(index),
      never,
      port: m.port ?? 0,
      ignoreCase,
      method: m.method ? strMatcher(m.method, false) : null,
      scheme: m.scheme ? strMatcher(m.scheme, false) : null,
      authority: m.authority ? strMatcher(m.authority, false) : null,
      sourceLabels,
      sourceNamespace,
    };
    if (m.uri) {
      if (m.uri.exact !== undefined) setPath(compiled, PathKind.Exact, m.uri.exact);
      else if (m.uri.prefix !== undefined) setPath(compiled, PathKind.Prefix, m.uri.prefix);
      else if (m.uri.regex !== undefined) {
        compiled.pathKind = PathKind.Regex;
        compiled.pathRe = compileRe2(m.uri.regex, `${path}.uri.regex`);
        compiled.pathValue = m.uri.regex;
        const lits = regexLiterals(m.uri.regex);
        compiled.gate = lits.prefix;
        compiled.required = lits.required;
      }
    }
    const reserved = new Set(['uri', 'scheme', 'method', 'authority']);
    for (const [name, sm] of Object.entries(m.headers ?? {})) {
      if (reserved.has(name)) continue;
      compiled.headers.push(headerMatcher(name, sm, false));
    }
    for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
      if (reserved.has(name)) continue;
      compiled.headers.push(headerMatcher(name, sm, true));
    }
    for (const [name, sm] of Object.entries(m.queryParams ?? {}))
      compiled.query.push({ name, m: strMatcher(sm, true) });
    return compiled;
  }

  private vsBackends(
    dests: HTTPRouteDestination[],
    ns: string,
    routeReq: HeaderOps,
    routeResp: HeaderOps,
  ): WeightedBackend[] {
    const single = dests.length === 1;
    const out: WeightedBackend[] = [];
    for (const d of dests) {
      const weight = single ? 1 : Math.max(0, d.weight ?? 0);
      if (!single && weight === 0) continue;
      const host = resolveHost(d.destination!.host!, ns, this.suffix);
      const port = this.destinationPort(host, d.destination!.port?.number);
      const subset = d.destination!.subset ?? null;
      out.push(
        this.backend(host, subset, port, weight, d.headers, routeReq, routeResp, {
          kind: 'VirtualService',
        }),
      );
    }
    return out;
  }

  private vsMirrors(http: HTTPRoute, ns: string): CompiledRoute['mirrors'] {
    const list: { host: string; subset: string | null; portNumber: number | undefined; percentage: number }[] = [];
    if (http.mirror) {
      const pct = http.mirrorPercentage?.value ?? http.mirrorPercent ?? 100;
      list.push({
        host: http.mirror.host!,
        subset: http.mirror.subset ?? null,
        portNumber: http.mirror.port?.number,
        percentage: pct,
      });
    }
    for (const m of http.mirrors ?? [])
      list.push({
        host: m.destination!.host!,
        subset: m.destination!.subset ?? null,
        portNumber: m.destination!.port?.number,
        percentage: m.percentage?.value ?? 100,
      });
    return list
      .filter((m) => m.percentage > 0)
      .map((m) => {
        const host = resolveHost(m.host, ns, this.suffix);
        return {
          host,
          subset: m.subset,
          port: this.destinationPort(host, m.portNumber),
          percentage: m.percentage,
          threshold: percentThreshold(m.percentage),
        };
      });
  }

  // -------------------------------------------------------------------------------- Gateway API

  gatewayRoutes(): CompiledRoute[] {
    interface Entry {
      route: CompiledRoute;
      rank: number;
      length: number;
      method: boolean;
      headers: number;
      query: number;
      hasMatch: boolean;
    }
    const entries: Entry[] = [];
    const parents = [
      ...(this.options.httpRoutes ?? []).map((r) => ({ r, kind: 'HTTPRoute' as const })),
      ...(this.options.grpcRoutes ?? []).map((r) => ({ r, kind: 'GRPCRoute' as const })),
    ].filter(({ r }) => this.attached(r));
    parents.sort((a, b) => compareByAge(a.r, b.r) || nsName(a.r).localeCompare(nsName(b.r)));
    for (const { r, kind } of parents) {
      const ns = r.metadata?.namespace ?? 'default';
      const res = `${ns}/${r.metadata?.name ?? ''}`;
      const rules =
        kind === 'HTTPRoute'
          ? ((r as GatewayHTTPRoute).spec?.rules ?? [])
          : ((r as GRPCRoute).spec?.rules ?? []).map((rule) => ({
              ...rule,
              matches: rule.matches?.map((m) => grpcToHttpMatch(m)),
            }));
      if (rules.length === 0) rules.push({ backendRefs: [] } as never);
      rules.forEach((rule, ri) => {
        const matches: GatewayHTTPRouteMatch[] = rule.matches?.length ? rule.matches : [{}];
        matches.forEach((m, mi) => {
          const route = this.compileGatewayRule(rule, ri, m, mi, rule.matches?.length ? mi : -1, ns, res, kind);
          const pathType = m.path?.type ?? 'PathPrefix';
          entries.push({
            route,
            rank: pathType === 'Exact' ? 3 : pathType === 'PathPrefix' ? 2 : 1,
            length: gatewayPathLength(m),
            method: m.method !== undefined,
            headers: m.headers?.length ?? 0,
            query: m.queryParams?.length ?? 0,
            hasMatch: true,
          });
        });
      });
    }
    // Istio's sortHTTPRoutes: a stable sort by path type, path length, method, #headers, #query params.
    const indexed = entries.map((e, i) => ({ e, i }));
    indexed.sort((x, y) => {
      const a = x.e;
      const b = y.e;
      if (a.rank !== b.rank) return b.rank - a.rank;
      if (a.length !== b.length) return b.length - a.length;
      if (a.method !== b.method) return a.method ? -1 : 1;
      if (a.headers !== b.headers) return b.headers - a.headers;
      if (a.query !== b.query) return b.query - a.query;
      return x.i - y.i;
    });
    return indexed.map((x) => x.e.route);
  }

  private attached(r: GatewayHTTPRoute | GRPCRoute): boolean {
    const ns = r.metadata?.namespace ?? 'default';
    const svcName = this.service.hostname.split('.')[0];
    return (r.spec?.parentRefs ?? []).some((p) => {
      const group = p.group ?? 'gateway.networking.k8s.io';
      const kind = p.kind ?? 'Gateway';
      if (!(kind === 'Service' && (group === '' || group === 'core'))) return false;
      if ((p.namespace ?? ns) !== this.service.namespace || p.name !== svcName) return false;
      return p.port === undefined || p.port === this.service.port;
    });
  }

  private compileGatewayRule(
    rule: {
      name?: string;
      filters?: GatewayHTTPRouteFilter[];
      backendRefs?: GatewayHTTPBackendRef[];
      timeouts?: { request?: string; backendRequest?: string };
      retry?: { codes?: number[]; attempts?: number; backoff?: string };
    },
    ruleIndex: number,
    m: GatewayHTTPRouteMatch,
    matchIndexForCompile: number,
    matchIndex: number,
    ns: string,
    res: string,
    kind: 'HTTPRoute' | 'GRPCRoute',
  ): CompiledRoute {
    const info: RouteInfo = {
      name: rule.name ? `${res}/${rule.name}` : `${res}/${ruleIndex}.${Math.max(0, matchIndexForCompile)}`,
      kind,
      resource: res,
      ruleIndex,
      matchIndex,
    };
    const cm = this.compileGatewayMatch(m, matchIndex);
    const filters = rule.filters ?? [];
    if (matchIndexForCompile <= 0)
      filters.forEach((f, k) => {
        if (f.type === 'ExtensionRef' || f.type === 'ExternalAuth')
          this.diag(
            res,
            `spec.rules[${ruleIndex}].filters[${k}]`,
            `${f.type} filters are not executed by this engine; the rule routes as if it were absent`,
          );
      });
    const reqMod = filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
    const respMod = filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier;
    const routeReq = gatewayHeaderOps(reqMod);
    const routeResp = gatewayHeaderOps(respMod);
    const redirectF = filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
    const rewriteF = filters.find((f) => f.type === 'URLRewrite')?.urlRewrite;
    const pathMod = (mod: HTTPPathModifier | undefined): PathRewrite => {
      if (!mod) return { kind: 'none' };
      if (mod.type === 'ReplaceFullPath') return { kind: 'full', value: mod.replaceFullPath ?? '/' };
      return { kind: 'segment-prefix', value: mod.replacePrefixMatch ?? '/' };
    };
    let redirect: RedirectSpec | null = null;
    if (redirectF) {
      redirect = {
        status: redirectF.statusCode ?? 302,
        scheme: redirectF.scheme ?? null,
        host: redirectF.hostname ?? null,
        port: redirectF.port ?? (redirectF.scheme ? 'protocol' : 'request'),
        path: pathMod(redirectF.path),
      };
    }
    const backends: WeightedBackend[] = [];
    let directResponse: { status: number; body: string | null } | null = null;
    if (!redirect) {
      for (const b of rule.backendRefs ?? []) {
        const weight = b.weight ?? 1;
        if (weight === 0) continue;
        backends.push(this.gatewayBackend(b, weight, ns, kind, routeReq, routeResp));
      }
      if (backends.length === 0) directResponse = { status: 500, body: null };
      else {
        const total = backends.reduce((s, b) => s + b.configuredWeight, 0);
        for (let i = 0; i < backends.length; i++)
          backends[i] = { ...backends[i]!, weight: backends[i]!.configuredWeight / total };
      }
    }
    const mirrors: CompiledRoute['mirrors'] = [];
    for (const f of filters) {
      if (f.type !== 'RequestMirror' || !f.requestMirror?.backendRef) continue;
      const rm = f.requestMirror;
      const pct =
        rm.percent ?? (rm.fraction ? (100 * (rm.fraction.numerator ?? 0)) / (rm.fraction.denominator ?? 100) : 100);
      if (pct <= 0) continue;
      const ref = this.backendHost(rm.backendRef!, ns, kind);
      if (!ref.host) continue;
      mirrors.push({
        host: ref.host,
        subset: null,
        port: rm.backendRef!.port ?? this.service.port,
        percentage: pct,
        threshold: percentThreshold(pct),
      });
    }
    const t = rule.timeouts;
    const requestMs = t?.request !== undefined ? (tryParseDuration(t.request) ?? 0) : undefined;
    const backendMs = t?.backendRequest !== undefined ? (tryParseDuration(t.backendRequest) ?? 0) : undefined;
    let retryPolicy: RetryPolicy | null = DEFAULT_RETRY_POLICY;
    if (rule.retry) {
      const attempts = rule.retry.attempts ?? 2;
      const codes = [...new Set(rule.retry.codes ?? [])];
      retryPolicy =
        attempts === 0
          ? null
          : {
              ...DEFAULT_RETRY_POLICY,
              attempts,
              retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
              retriableStatusCodes: codes,
              perTryTimeoutMs: backendMs ?? 0,
              backoffBaseMs: rule.retry.backoff !== undefined ? (tryParseDuration(rule.retry.backoff) ?? 25) : 25,
            };
    }
    const cors = filters.find((f) => f.type === 'CORS')?.cors;
    return this.finish({
      info,
      matches: [cm],
      backends,
      redirect,
      directResponse,
      routeRequestHeaders: routeReq,
      routeResponseHeaders: routeResp,
      rewritePath: rewriteF ? pathMod(rewriteF.path) : { kind: 'none' },
      authorityRewrite: rewriteF?.hostname ?? null,
      fault: null,
      retryPolicy,
      timeoutMs: requestMs ?? (rule.retry ? 0 : (backendMs ?? 0)),
      mirrors,
      cors: cors
        ? compileCors({
            allowOrigins: (cors.allowOrigins ?? []).map((o) =>
              o === '*'
                ? { regex: '.*' }
                : o.includes('*')
                  ? { regex: o.split('*').map(escapeRe2).join('[^/]*') }
                  : { exact: o },
            ),
            ...(cors.allowMethods ? { allowMethods: cors.allowMethods } : {}),
            ...(cors.allowHeaders ? { allowHeaders: cors.allowHeaders } : {}),
            ...(cors.exposeHeaders ? { exposeHeaders: cors.exposeHeaders } : {}),
            ...(cors.maxAge !== undefined ? { maxAge: `${cors.maxAge}s` } : {}),
            ...(cors.allowCredentials !== undefined ? { allowCredentials: cors.allowCredentials } : {}),
            unmatchedPreflights: 'IGNORE',
          })
        : null,
    });
  }

  private compileGatewayMatch(m: GatewayHTTPRouteMatch, index: number): CompiledMatch {
    const compiled: CompiledMatch = {
      ...blankMatch(index),
      method: m.method ? { kind: Kind.Exact, value: m.method, re: null } : null,
    };
    const type = m.path?.type ?? 'PathPrefix';
    const value = m.path?.value ?? '/';
    if (type === 'Exact') setPath(compiled, PathKind.Exact, value);
    else if (type === 'RegularExpression') {
      compiled.pathKind = PathKind.Regex;
      compiled.pathRe = compileRe2(value);
      compiled.pathValue = value;
      const lits = regexLiterals(value);
      compiled.gate = lits.prefix;
      compiled.required = lits.required;
    } else {
      const trimmed = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
      if (trimmed !== '/') setPath(compiled, PathKind.SegmentPrefix, trimmed);
      else compiled.pathValue = '/';
    }
    for (const h of m.headers ?? [])
      compiled.headers.push({
        name: h.name!.toLowerCase(),
        m:
          h.type === 'RegularExpression'
            ? { kind: Kind.Regex, value: h.value!, re: compileRe2(h.value!) }
            : { kind: Kind.Exact, value: h.value!, re: null },
        invert: false,
        claim: null,
      });
    for (const q of m.queryParams ?? [])
      compiled.query.push({
        name: q.name!,
        m:
          q.type === 'RegularExpression'
            ? { kind: Kind.Regex, value: q.value!, re: compileRe2(q.value!) }
            : { kind: Kind.Exact, value: q.value!, re: null },
      });
    return compiled;
  }

  private backendHost(
    ref: BackendObjectReference,
    ns: string,
    fromKind: string,
  ): { host: string | null; problem: string | null } {
    const group = ref.group ?? '';
    const kind = ref.kind ?? 'Service';
    const toNs = ref.namespace ?? ns;
    if (toNs !== ns) {
      const allowed = this.options.referenceGrantAllows?.(
        { namespace: ns, kind: fromKind },
        { namespace: toNs, kind, name: ref.name ?? '' },
      );
      if (!allowed)
        return { host: null, problem: `backendRef to namespace ${toNs} is not allowed by a ReferenceGrant` };
    }
    if ((group === '' || group === 'core') && kind === 'Service')
      return { host: `${ref.name}.${toNs}.svc.${this.suffix}`, problem: null };
    if (group === 'networking.istio.io' && kind === 'Hostname') return { host: ref.name!.toLowerCase(), problem: null };
    return { host: null, problem: `backendRef kind ${group ? `${group}/` : ''}${kind} is not supported` };
  }

  private gatewayBackend(
    b: GatewayHTTPBackendRef,
    weight: number,
    ns: string,
    fromKind: string,
    routeReq: HeaderOps,
    routeResp: HeaderOps,
  ): WeightedBackend {
    const { host, problem } = this.backendHost(b, ns, fromKind);
    const reqMod = b.filters?.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
    const respMod = b.filters?.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier;
    const headers: Headers = {};
    const base = this.backend(
      host ?? b.name ?? '',
      null,
      b.port ?? this.service.port,
      weight,
      headers,
      routeReq,
      routeResp,
      {
        kind: 'Gateway',
        backendReq: gatewayHeaderOps(reqMod),
        backendResp: gatewayHeaderOps(respMod),
      },
    );
    if (problem) return { ...base, problem: { status: 500, reason: problem } };
    // Gateway API: a backend Service that does not exist answers 500 for its share (VirtualService: 503).
    if (base.problem && !base.subset) return { ...base, problem: { status: 500, reason: base.problem.reason } };
    return base;
  }

  // -------------------------------------------------------------------------------- default route

  defaultRoute(): CompiledRoute {
    const backend = this.backend(
      this.service.hostname,
      null,
      this.service.port,
      1,
      undefined,
      NO_HEADER_OPS,
      NO_HEADER_OPS,
      {
        kind: 'VirtualService',
      },
    );
    return this.finish({
      info: { name: 'default', kind: 'default', resource: null, ruleIndex: 0, matchIndex: -1 },
      matches: [],
      backends: [backend],
      redirect: null,
      directResponse: null,
      routeRequestHeaders: NO_HEADER_OPS,
      routeResponseHeaders: NO_HEADER_OPS,
      rewritePath: { kind: 'none' },
      authorityRewrite: null,
      fault: null,
      retryPolicy: DEFAULT_RETRY_POLICY,
      timeoutMs: 0,
      mirrors: [],
      cors: null,
    });
  }

  // -------------------------------------------------------------------------------- backends

  private destinationPort(host: string, explicit: number | undefined): number {
    if (explicit) return explicit;
    const ports = host === this.service.hostname.toLowerCase() ? this.service.ports : this.options.servicePorts?.(host);
    if (ports && ports.length === 1) return ports[0]!;
    return this.service.port;
  }

  private dr(host: string): MergedDestinationRule | null {
    let dr = this.drCache.get(host);
    if (dr === undefined) {
      const ns = namespaceOfHost(host, this.suffix);
      dr = resolveDestinationRule({
        destinationRules: this.options.destinationRules ?? [],
        host,
        proxyNamespace: this.proxy.namespace,
        ...(ns ? { serviceNamespace: ns } : {}),
        rootNamespace: this.root,
        domainSuffix: this.suffix,
      });
      this.drCache.set(host, dr);
    }
    return dr;
  }

  private backend(
    host: string,
    subset: string | null,
    port: number,
    weight: number,
    destHeaders: Headers | undefined,
    routeReq: HeaderOps,
    routeResp: HeaderOps,
    how: { kind: 'VirtualService' } | { kind: 'Gateway'; backendReq: HeaderOps; backendResp: HeaderOps },
  ): WeightedBackend {
    const dr = this.dr(host);
    const key = `${host}|${subset ?? ''}|${port}`;
    let trafficPolicy = this.policyCache.get(key);
    if (!trafficPolicy) {
      trafficPolicy = dr ? effectiveTrafficPolicy(dr, { subset, port }) : DEFAULT_TRAFFIC_POLICY;
      this.policyCache.set(key, trafficPolicy);
    }
    let problem: WeightedBackend['problem'] = null;
    const subsetDef = subset ? dr?.subsets.get(subset) : undefined;
    if (subset && !subsetDef)
      problem = { status: 503, reason: `subset ${subset} of ${host} is not defined by any DestinationRule` };
    else if (this.options.hostExists && !this.options.hostExists(host))
      problem = { status: 503, reason: `no service ${host}` };
    const destReq = how.kind === 'Gateway' ? how.backendReq : headerOps(destHeaders?.request);
    const destResp = how.kind === 'Gateway' ? how.backendResp : headerOps(destHeaders?.response);
    return {
      host,
      subset,
      port,
      weight,
      configuredWeight: weight,
      requestHeaders: mergeOps(destReq, routeReq),
      responseHeaders: mergeOps(destResp, routeResp),
      trafficPolicy,
      subsetLabels: subsetDef?.labels ?? null,
      problem,
    };
  }

  private finish(r: Omit<CompiledRoute, 'cumulative' | 'total' | 'reasons'>): CompiledRoute {
    const total = r.backends.reduce((s, b) => s + b.configuredWeight, 0);
    const backends = r.backends.map((b) =>
      total > 0 && b.weight !== b.configuredWeight / total ? { ...b, weight: b.configuredWeight / total } : b,
    );
    const cumulative = new Float64Array(backends.length);
    let acc = 0;
    backends.forEach((b, i) => {
      acc += b.configuredWeight;
      cumulative[i] = acc;
    });
    for (const m of r.matches) {
      m.info = r.info.kind === 'VirtualService' ? Object.freeze({ ...r.info, matchIndex: m.index }) : r.info;
      m.reason = `${describe(m.info)} matched`;
    }
    const d = describe(r.info);
    const reasons = {
      matched: `${d} matched`,
      redirect: `${d} redirects`,
      direct: r.directResponse
        ? `${d} answers directly with ${r.directResponse.status}${r.backends.length === 0 && r.info.kind !== 'VirtualService' ? ' (no usable backendRefs)' : ''}`
        : '',
    };
    return { ...r, backends, cumulative, total: acc, reasons };
  }
}

// ------------------------------------------------------------------------------------------ the table

const EMPTY_MAP = new Map<string, string>();

class Table implements RouteTable {
  readonly service: Readonly<ServiceRef>;
  readonly routes: readonly RouteInfo[];
  readonly diagnostics: readonly CompileDiagnostic[];
  readonly #compiled: CompiledRoute[];
  readonly #normalization: PathNormalization;
  readonly #needsQuery: boolean;
  readonly #needsLower: boolean;
  readonly #noRoute: string;
  readonly #index: GateIndex | null;
  readonly #lists: (readonly number[])[] = [];
  readonly #pos: Int32Array;

  constructor(
    ctx: Context,
    compiled: CompiledRoute[],
    readonly source: RouteTable['source'],
  ) {
    this.service = Object.freeze({ ...ctx.service });
    this.#compiled = compiled;
    this.routes = Object.freeze(compiled.map((r) => r.info));
    this.diagnostics = Object.freeze([...ctx.diagnostics]);
    this.#normalization = ctx.normalization;
    this.#needsQuery = compiled.some((r) => r.matches.some((m) => m.query.length > 0));
    this.#needsLower = compiled.some((r) => r.matches.some((m) => m.ignoreCase));
    this.#index = (ctx.options.index ?? compiled.length >= INDEX_THRESHOLD) ? buildGateIndex(compiled) : null;
    this.#pos = new Int32Array(this.#index?.maxLists ?? 1);
    this.#noRoute = `no route matched (${compiled.length} route(s) at the ${ctx.proxy.kind} for ${ctx.service.hostname}:${ctx.service.port}); Envoy answers 404 (NR)`;
  }

  route(request: RouteRequest, options: DecisionOptions): RouteDecision {
    if (!request || typeof request.path !== 'string' || typeof request.method !== 'string')
      throw new L7Error('ERR_L7_INVALID_REQUEST', 'a request needs a method and a path (string :path with its query)');
    if (!options || typeof options.rng?.next !== 'function')
      throw new L7Error('ERR_L7_INVALID_OPTIONS', 'route() needs { rng } (an Rng from @mesh/core)');
    const full = request.path;
    const q = full.indexOf('?');
    const rawPath = q === -1 ? full : full.slice(0, q);
    const query = q === -1 ? '' : full.slice(q + 1);
    const path = normalizePath(rawPath, this.#normalization);
    if (path === null) return localDecision('reject', 400, 'the path contains %00 (Envoy rejects it with 400)');
    if (!path.startsWith('/') && request.method !== 'CONNECT')
      throw new L7Error('ERR_L7_INVALID_REQUEST', `path ${JSON.stringify(full)} must start with "/"`);
    const fullPath = q === -1 ? path : `${path}?${query}`;
    const lower = this.#needsLower ? path.toLowerCase() : path;
    const lowerFull = this.#needsLower ? fullPath.toLowerCase() : fullPath;
    const headers = lowerCaseHeaders(request.headers);
    const params = this.#needsQuery ? parseQuery(query) : EMPTY_MAP;
    const port = request.port ?? this.service.port;
    const authority = request.authority ?? '';
    const scheme = request.scheme ?? 'http';
    const index = this.#index;
    if (index === null) {
      for (let ri = 0; ri < this.#compiled.length; ri++) {
        const r = this.#compiled[ri]!;
        const m = firstMatch(r, path, fullPath, lower, lowerFull, request, scheme, authority, headers, params, port);
        if (m) return decide(r, m, path, query, fullPath, authority, scheme, port, options.rng);
      }
      return localDecision('no-route', 404, this.#noRoute);
    }
    // Candidates: routes whose gate (a literal every match of theirs starts with) prefixes the path, in route order.
    const lists = this.#lists;
    let k = 0;
    if (index.ungated.length > 0) lists[k++] = index.ungated;
    k = collect(index.exact, path, lists, k);
    if (index.lower) k = collect(index.lower, lower, lists, k);
    if (index.segments.size > 0) k = collectSegments(index, path, lists, k);
    for (let h = 0; h < index.headerNames.length; h++) {
      const raw = headers[index.headerNames[h]!];
      if (raw === undefined) continue;
      const list = index.headerValues[h]!.get(typeof raw === 'string' ? raw : raw.join(','));
      if (list) lists[k++] = list;
    }
    if (k === 1) {
      const list = lists[0]!;
      for (let i = 0; i < list.length; i++) {
        const r = this.#compiled[list[i]!]!;
        const m = firstMatch(r, path, fullPath, lower, lowerFull, request, scheme, authority, headers, params, port);
        if (m) return decide(r, m, path, query, fullPath, authority, scheme, port, options.rng);
      }
    } else if (k > 1) {
      const pos = this.#pos;
      for (let i = 0; i < k; i++) pos[i] = 0;
      let last = -1;
      for (;;) {
        let best = -1;
        let bestRoute = Infinity;
        for (let i = 0; i < k; i++) {
          const list = lists[i]!;
          if (pos[i]! < list.length && list[pos[i]!]! < bestRoute) {
            bestRoute = list[pos[i]!]!;
            best = i;
          }
        }
        if (best === -1) break;
        pos[best]!++;
        if (bestRoute === last) continue;
        last = bestRoute;
        const r = this.#compiled[bestRoute]!;
        const m = firstMatch(r, path, fullPath, lower, lowerFull, request, scheme, authority, headers, params, port);
        if (m) {
          for (let i = 0; i < k; i++) lists[i] = EMPTY_LIST;
          return decide(r, m, path, query, fullPath, authority, scheme, port, options.rng);
        }
      }
    }
    for (let i = 0; i < k; i++) lists[i] = EMPTY_LIST;
    return localDecision('no-route', 404, this.#noRoute);
  }
}

/** Tables with fewer routes are scanned linearly (cheaper than walking the index). */
const INDEX_THRESHOLD = 16;
const EMPTY_LIST: readonly number[] = Object.freeze([]);

interface TrieNode {
  readonly children: Map<number, TrieNode>;
  /** Routes (ascending indices) with a gate that ends at this node. */
  routes: number[];
}

/**
 * Candidate index for first-match tables. Each live match goes into one bucket keyed by something every request it
 * matches must have: an exact header value, a whole path segment, or a literal path prefix (a trie); matches with
 * none of these are candidates for every request. A request collects the buckets its headers, segments and path
 * select and evaluates those routes in route order, so written-order semantics are kept.
 */
interface GateIndex {
  readonly ungated: readonly number[];
  readonly exact: TrieNode;
  readonly lower: TrieNode | null;
  /** Indexed header names, and for each, value → routes. */
  readonly headerNames: readonly string[];
  readonly headerValues: readonly ReadonlyMap<string, number[]>[];
  /** whole path segment → routes. */
  readonly segments: ReadonlyMap<string, number[]>;
  /** segmentLengths[n] is 1 when some indexed segment has n characters (lets a request skip the others unsliced). */
  readonly segmentLengths: Uint8Array;
  /** Upper bound on the number of lists a request can collect. */
  readonly maxLists: number;
}

type Key =
  | { kind: 'header'; name: string; value: string }
  | { kind: 'segment'; segment: string }
  | { kind: 'gate'; gate: string; lower: boolean };

function keysOf(m: CompiledMatch): Key[] {
  const keys: Key[] = [];
  for (const h of m.headers)
    if (!h.invert && h.m.kind === Kind.Exact) keys.push({ kind: 'header', name: h.name, value: h.m.value });
  if (!m.ignoreCase) {
    const literals: { text: string; fromStart: boolean; whole: boolean }[] = [];
    if (m.pathKind === PathKind.Exact) literals.push({ text: m.pathValue, fromStart: true, whole: true });
    else if (m.pathKind === PathKind.SegmentPrefix)
      literals.push({ text: `${m.pathValue}/`, fromStart: true, whole: false });
    else if (m.gate) literals.push({ text: m.gate, fromStart: true, whole: false });
    if (m.pathKind === PathKind.Regex)
      for (const r of m.required) literals.push({ text: r, fromStart: false, whole: false });
    for (const l of literals)
      for (const segment of wholeSegments(l.text, l.fromStart, l.whole)) keys.push({ kind: 'segment', segment });
  }
  if (m.gate) keys.push({ kind: 'gate', gate: m.gate, lower: m.ignoreCase });
  return keys;
}

/** Path segments a literal pins down completely: those with a "/" (or the path's start/end) on both sides. */
function wholeSegments(text: string, fromStart: boolean, whole: boolean): string[] {
  const parts = text.split('/');
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const leftBounded = i > 0 || (fromStart && parts[0] === '');
    const rightBounded = i < parts.length - 1 || whole;
    if (i === 0 && !fromStart) continue;
    if (leftBounded && rightBounded && parts[i]) out.push(parts[i]!);
  }
  return out;
}

function keyId(k: Key): string {
  return k.kind === 'header'
    ? `h:${k.name}:${k.value}`
    : k.kind === 'segment'
      ? `s:${k.segment}`
      : `${k.lower ? 'l' : 'g'}:${k.gate}`;
}

function buildGateIndex(compiled: CompiledRoute[]): GateIndex {
  const ungated: number[] = [];
  const exact: TrieNode = { children: new Map(), routes: [] };
  let lower: TrieNode | null = null;
  const headers = new Map<string, Map<string, number[]>>();
  const segments = new Map<string, number[]>();
  const push = (list: number[], route: number) => {
    if (list[list.length - 1] !== route) list.push(route);
  };
  const insert = (root: TrieNode, gate: string, route: number) => {
    let node = root;
    for (let i = 0; i < gate.length; i++) {
      const c = gate.charCodeAt(i);
      let next = node.children.get(c);
      if (!next) {
        next = { children: new Map(), routes: [] };
        node.children.set(c, next);
      }
      node = next;
    }
    push(node.routes, route);
  };
  // Prefer the key shared by the fewest matches: it keeps the candidate lists short.
  const live = compiled.map((r) => r.matches.filter((m) => !m.never));
  const popularity = new Map<string, number>();
  for (const ms of live)
    for (const m of ms) for (const k of keysOf(m)) popularity.set(keyId(k), (popularity.get(keyId(k)) ?? 0) + 1);
  compiled.forEach((r, ri) => {
    if (r.matches.length === 0) return void ungated.push(ri);
    for (const m of live[ri]!) {
      const keys = keysOf(m);
      if (keys.length === 0) {
        push(ungated, ri);
        continue;
      }
      const best = keys.reduce((a, b) => (popularity.get(keyId(b))! < popularity.get(keyId(a))! ? b : a));
      if (best.kind === 'header') {
        let byValue = headers.get(best.name);
        if (!byValue) headers.set(best.name, (byValue = new Map()));
        let list = byValue.get(best.value);
        if (!list) byValue.set(best.value, (list = []));
        push(list, ri);
      } else if (best.kind === 'segment') {
        let list = segments.get(best.segment);
        if (!list) segments.set(best.segment, (list = []));
        push(list, ri);
      } else if (best.lower) insert((lower ??= { children: new Map(), routes: [] }), best.gate, ri);
      else insert(exact, best.gate, ri);
    }
  });
  // Lists can end up out of order when a route lands in several buckets through different matches; each list is
  // built in route order, so only the ungated list (pushed from both paths) needs a sort.
  ungated.sort((a, b) => a - b);
  let depth = 0;
  const measure = (n: TrieNode, d: number) => {
    depth = Math.max(depth, d);
    for (const c of n.children.values()) measure(c, d + 1);
  };
  measure(exact, 0);
  if (lower) measure(lower, 0);
  const segmentLengths = new Uint8Array(256);
  let longSegments = false;
  for (const key of segments.keys()) {
    if (key.length < 256) segmentLengths[key.length] = 1;
    else longSegments = true;
  }
  if (longSegments) segmentLengths.fill(1);
  return {
    ungated,
    exact,
    lower,
    headerNames: [...headers.keys()],
    headerValues: [...headers.values()],
    segments,
    segmentLengths,
    maxLists: 1 + depth * 2 + headers.size + 64,
  };
}

function collect(root: TrieNode, path: string, lists: (readonly number[])[], k: number): number {
  let node: TrieNode | undefined = root;
  for (let i = 0; i < path.length; i++) {
    node = node.children.get(path.charCodeAt(i));
    if (!node) break;
    if (node.routes.length > 0) lists[k++] = node.routes;
  }
  return k;
}

function collectSegments(index: GateIndex, path: string, lists: (readonly number[])[], k: number): number {
  const max = index.maxLists;
  const lengths = index.segmentLengths;
  let start = 1;
  while (start <= path.length && k < max) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const n = end - start;
    if (n > 0 && (n >= 256 || lengths[n] === 1)) {
      const list = index.segments.get(path.slice(start, end));
      if (list) lists[k++] = list;
    }
    start = end + 1;
  }
  return k;
}

function firstMatch(
  r: CompiledRoute,
  path: string,
  fullPath: string,
  lower: string,
  lowerFull: string,
  request: RouteRequest,
  scheme: string,
  authority: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  params: Map<string, string>,
  port: number,
): CompiledMatch | null {
  if (r.matches.length === 0) return NO_MATCH;
  for (let i = 0; i < r.matches.length; i++) {
    const m = r.matches[i]!;
    if (
      matchOne(m, path, fullPath, lower, lowerFull, request.method, scheme, authority, headers, params, port, request)
    )
      return m;
  }
  return null;
}

/** A match that constrains nothing; compilers fill in what the config sets. */
function blankMatch(index: number): CompiledMatch {
  return {
    index,
    reason: null,
    info: null,
    never: false,
    port: 0,
    pathKind: PathKind.None,
    pathValue: '',
    ignoreCase: false,
    gate: '',
    required: [],
    pathRe: null,
    method: null,
    scheme: null,
    authority: null,
    headers: [],
    query: [],
    sourceLabels: null,
    sourceNamespace: null,
  };
}

const NO_MATCH: CompiledMatch = blankMatch(-1);

function matchOne(
  m: CompiledMatch,
  path: string,
  fullPath: string,
  lower: string,
  lowerFull: string,
  method: string,
  scheme: string,
  authority: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  params: Map<string, string>,
  port: number,
  request: RouteRequest,
): boolean {
  const source = request.source;
  if (m.never) return false;
  if (m.port !== 0 && m.port !== port) return false;
  if (m.gate.length > 0 && !(m.ignoreCase ? lower : path).startsWith(m.gate)) return false;
  if (m.method && !strMatch(m.method, method)) return false;
  switch (m.pathKind) {
    case PathKind.Exact:
      if ((m.ignoreCase ? lower : path) !== m.pathValue) return false;
      break;
    case PathKind.Prefix:
      if (!(m.ignoreCase ? lowerFull : fullPath).startsWith(m.pathValue)) return false;
      break;
    case PathKind.SegmentPrefix: {
      const v = m.pathValue;
      if (!path.startsWith(v)) return false;
      if (path.length > v.length && path.charCodeAt(v.length) !== 47 /* / */) return false;
      break;
    }
    case PathKind.Regex:
      for (let i = 0; i < m.required.length; i++) if (!path.includes(m.required[i]!)) return false;
      if (!m.pathRe!.matches(path)) return false;
      break;
  }
  if (m.scheme && !strMatch(m.scheme, scheme)) return false;
  if (m.authority && !strMatch(m.authority, authority)) return false;
  for (let i = 0; i < m.headers.length; i++) {
    const h = m.headers[i]!;
    if (h.claim !== null) {
      if (claimMatches(h, request) === h.invert) return false;
      continue;
    }
    const raw = headers[h.name];
    const value = raw === undefined ? undefined : typeof raw === 'string' ? raw : raw.join(',');
    let ok: boolean;
    if (h.m.kind === Kind.Present) ok = value !== undefined;
    else if (h.invert)
      ok = strMatch(h.m, value ?? ''); // withoutHeaders: a missing header counts as empty
    else ok = value !== undefined && strMatch(h.m, value);
    if (ok === h.invert) return false;
  }
  for (let i = 0; i < m.query.length; i++) {
    const qm = m.query[i]!;
    const value = params.get(qm.name);
    if (value === undefined) return false;
    if (qm.m.kind !== Kind.Present && !strMatch(qm.m, value)) return false;
  }
  if (m.sourceNamespace !== null && source?.namespace !== m.sourceNamespace) return false;
  if (m.sourceLabels !== null) {
    const labels = source?.labels;
    if (!labels) return false;
    for (const k in m.sourceLabels) if (labels[k] !== m.sourceLabels[k]) return false;
  }
  return true;
}

/** A JWT claim match: strings compare as they are, lists match when any element does, other values as text. */
function claimMatches(h: HeaderMatcher, request: RouteRequest): boolean {
  let v: unknown = request.jwtClaims;
  for (const part of h.claim!) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    v = (v as Record<string, unknown>)[part];
  }
  if (v === undefined || v === null) return false;
  if (h.m.kind === Kind.Present) return true;
  const values = Array.isArray(v) ? v : [v];
  return values.some((x) => strMatch(h.m, typeof x === 'string' ? x : JSON.stringify(x)));
}

function strMatch(m: StrMatcher, value: string): boolean {
  switch (m.kind) {
    case Kind.Exact:
      return value === m.value;
    case Kind.Prefix:
      return value.startsWith(m.value);
    case Kind.Regex:
      return m.re!.matches(value);
    default:
      return true;
  }
}

function decide(
  r: CompiledRoute,
  m: CompiledMatch,
  path: string,
  query: string,
  fullPath: string,
  authority: string,
  scheme: string,
  port: number,
  rng: Rng,
): RouteDecision {
  const info: RouteInfo = m.info ?? r.info;
  const fault = r.fault ? drawFault(r.fault, rng) : null;
  if (r.redirect) {
    const location = redirectLocation(r.redirect, m, path, query, authority, scheme, port);
    return make(
      'redirect',
      r,
      info,
      null,
      null,
      NO_HEADER_OPS,
      { status: r.redirect.status, location },
      null,
      fault,
      NO_MIRRORS,
      r.reasons.redirect,
    );
  }
  if (r.directResponse)
    return make(
      'direct-response',
      r,
      info,
      null,
      null,
      NO_HEADER_OPS,
      null,
      r.directResponse,
      fault,
      NO_MIRRORS,
      r.reasons.direct,
    );
  const backend = pickBackend(r, rng);
  const mirrors = r.mirrors.length === 0 ? NO_MIRRORS : r.mirrors.map((mr) => drawMirror(mr, rng));
  if (backend.problem !== null && backend.problem.status === 500)
    return make(
      'direct-response',
      r,
      info,
      backend,
      null,
      NO_HEADER_OPS,
      null,
      INVALID_BACKEND,
      fault,
      mirrors,
      `${r.reasons.matched}; the picked backend is invalid: ${backend.problem.reason}`,
    );
  const upstream = {
    path: rewritePath(r.rewritePath, m, path, query, fullPath),
    authority: r.authorityRewrite ?? authority,
    scheme,
  };
  return make(
    'forward',
    r,
    info,
    backend,
    upstream,
    backend.requestHeaders,
    null,
    null,
    fault,
    mirrors,
    m.reason ?? r.reasons.matched,
  );
}

const INVALID_BACKEND = Object.freeze({ status: 500, body: null });

/** Every decision has the same shape (one hidden class), built in one place. */
function make(
  action: RouteDecision['action'],
  r: CompiledRoute,
  route: RouteInfo,
  backend: WeightedBackend | null,
  upstream: RouteDecision['upstream'],
  requestHeaders: HeaderOps,
  redirect: RouteDecision['redirect'],
  directResponse: RouteDecision['directResponse'],
  fault: FaultDecision | null,
  mirrors: readonly MirrorDecision[],
  reason: string,
): RouteDecision {
  return {
    action,
    route,
    backend,
    backends: r.redirect ? NO_BACKENDS : r.backends,
    upstream,
    requestHeaders,
    responseHeaders: backend ? backend.responseHeaders : r.routeResponseHeaders,
    redirect,
    directResponse,
    fault,
    retryPolicy: r.retryPolicy,
    timeoutMs: r.timeoutMs,
    mirrors,
    cors: r.cors,
    reason,
  };
}

const NO_BACKENDS: readonly WeightedBackend[] = Object.freeze([]);

const NO_MIRRORS: readonly MirrorDecision[] = Object.freeze([]);

function describe(info: RouteInfo): string {
  if (info.kind === 'default') return 'the default route (no VirtualService or HTTPRoute for this Service)';
  const where = info.kind === 'VirtualService' ? `spec.http[${info.ruleIndex}]` : `spec.rules[${info.ruleIndex}]`;
  const match =
    info.matchIndex >= 0 ? `.${info.kind === 'VirtualService' ? 'match' : 'matches'}[${info.matchIndex}]` : '';
  return `${info.kind} ${info.resource} ${where}${match}`;
}

function pickBackend(r: CompiledRoute, rng: Rng): WeightedBackend {
  const n = r.backends.length;
  if (n === 1) return r.backends[0]!;
  const x = rng.next() * r.total;
  for (let i = 0; i < n - 1; i++) if (x < r.cumulative[i]!) return r.backends[i]!;
  return r.backends[n - 1]!;
}

/** Envoy's FractionalPercent with denominator MILLION: the fault fires when a draw in [0, 1e6) is below value × 1e4. */
function percentThreshold(percentage: number): number {
  return Math.round(Math.min(100, Math.max(0, percentage)) * 10_000);
}

function fires(threshold: number, rng: Rng): boolean {
  if (threshold <= 0) return false;
  if (threshold >= 1_000_000) return true;
  return Math.floor(rng.next() * 1_000_000) < threshold;
}

function drawFault(f: NonNullable<CompiledRoute['fault']>, rng: Rng): FaultDecision {
  return {
    delay: f.delay
      ? { delayMs: f.delay.delayMs, percentage: f.delay.percentage, fired: fires(f.delay.threshold, rng) }
      : null,
    abort: f.abort
      ? {
          httpStatus: f.abort.httpStatus,
          grpcStatus: f.abort.grpcStatus,
          grpcCode: f.abort.grpcCode,
          percentage: f.abort.percentage,
          fired: fires(f.abort.threshold, rng),
        }
      : null,
  };
}

function drawMirror(m: CompiledRoute['mirrors'][number], rng: Rng): MirrorDecision {
  return { host: m.host, subset: m.subset, port: m.port, percentage: m.percentage, fired: fires(m.threshold, rng) };
}

function rewritePath(rw: PathRewrite, m: CompiledMatch, path: string, query: string, fullPath: string): string {
  const withQuery = (p: string) => (query ? `${p}?${query}` : p);
  switch (rw.kind) {
    case 'none':
      return fullPath;
    case 'full':
      return withQuery(rw.value);
    case 'regex':
      return withQuery(rw.re.replaceAll(path, rw.rewrite));
    case 'vs-prefix': {
      // Envoy prefix_rewrite: plain replacement of the matched prefix ("/" for routes without a uri prefix).
      if (m.pathKind === PathKind.Exact || m.pathKind === PathKind.Regex) return withQuery(rw.value);
      const prefixLength = m.pathKind === PathKind.Prefix ? m.pathValue.length : 1;
      return rw.value + fullPath.slice(prefixLength);
    }
    case 'segment-prefix': {
      if (m.pathKind !== PathKind.SegmentPrefix && m.pathKind !== PathKind.None) return fullPath;
      const prefix = m.pathKind === PathKind.None ? '' : m.pathValue;
      const replacement = rw.value.endsWith('/') ? rw.value.slice(0, -1) : rw.value;
      const rest = path.slice(prefix.length);
      let p = replacement + rest;
      if (p === '') p = '/';
      else if (!p.startsWith('/')) p = `/${p}`;
      return withQuery(p);
    }
  }
}

function redirectLocation(
  rd: RedirectSpec,
  m: CompiledMatch,
  path: string,
  query: string,
  authority: string,
  requestScheme: string,
  requestPort: number,
): string {
  const scheme = rd.scheme ?? requestScheme;
  const { host: reqHost, port: authPort } = splitAuthority(authority);
  let host = rd.host ?? reqHost;
  let port: number | null;
  let keptFromRequest = false;
  if (typeof rd.port === 'number') port = rd.port;
  else if (rd.port === 'protocol') port = null;
  else if (rd.port === 'request') port = requestPort;
  else if (rd.host) {
    const explicit = splitAuthority(rd.host);
    host = explicit.host;
    port = explicit.port;
  } else {
    // The request's own authority is kept as sent, except that Envoy drops the old scheme's default port when the
    // scheme changes (http://h:80 → https://h).
    port = authPort;
    if (scheme !== requestScheme && port === (requestScheme === 'https' ? 443 : 80)) port = null;
    keptFromRequest = true;
  }
  if (!keptFromRequest && ((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443))) port = null;
  let newPath: string;
  if (rd.path.kind === 'full')
    newPath = rd.path.value.includes('?') ? rd.path.value : query ? `${rd.path.value}?${query}` : rd.path.value;
  else if (rd.path.kind === 'segment-prefix')
    newPath = rewritePath(rd.path, m, path, query, query ? `${path}?${query}` : path);
  else newPath = query ? `${path}?${query}` : path;
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme}://${h}${port === null ? '' : `:${port}`}${newPath}`;
}

function splitAuthority(authority: string): { host: string; port: number | null } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (!m) return { host: authority, port: null };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : null };
}

function localDecision(action: 'no-route' | 'reject', status: number, reason: string): RouteDecision {
  return {
    action,
    route: null,
    backend: null,
    backends: [],
    upstream: null,
    requestHeaders: NO_HEADER_OPS,
    responseHeaders: NO_HEADER_OPS,
    redirect: null,
    directResponse: { status, body: null },
    fault: null,
    retryPolicy: null,
    timeoutMs: 0,
    mirrors: NO_MIRRORS,
    cors: null,
    reason,
  };
}

const NO_HEADERS: Readonly<Record<string, string | readonly string[] | undefined>> = Object.freeze({});

function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

function lowerCaseHeaders(
  headers: RouteRequest['headers'],
): Readonly<Record<string, string | readonly string[] | undefined>> {
  if (!headers) return NO_HEADERS;
  for (const k in headers) {
    if (hasUpperCase(k)) {
      const out: Record<string, string | readonly string[] | undefined> = {};
      for (const [name, v] of Object.entries(headers)) {
        const lower = name.toLowerCase();
        const prev = out[lower];
        out[lower] = prev === undefined ? v : v === undefined ? prev : [...[prev].flat(), ...[v].flat()];
      }
      return out;
    }
  }
  return headers;
}

// ------------------------------------------------------------------------------------------ compile helpers

function setPath(m: CompiledMatch, kind: PathKind, value: string): void {
  m.pathKind = kind;
  m.pathValue = m.ignoreCase ? value.toLowerCase() : value;
  m.gate = m.pathValue;
  if (kind === PathKind.Prefix) {
    // The prefix applies to the :path with its query; only the part before "?" can gate the path.
    const q = m.gate.indexOf('?');
    if (q !== -1) m.gate = m.gate.slice(0, q);
  }
}

function isCatchAll(m: CompiledMatch): boolean {
  return (
    !m.never &&
    m.port === 0 &&
    (m.pathKind === PathKind.None || (m.pathKind === PathKind.Prefix && m.pathValue === '/')) &&
    !m.method &&
    !m.scheme &&
    !m.authority &&
    m.headers.length === 0 &&
    m.query.length === 0 &&
    m.sourceLabels === null &&
    m.sourceNamespace === null
  );
}

function strMatcher(sm: StringMatch, presenceAllowed: boolean): StrMatcher {
  if (sm.exact !== undefined) return { kind: Kind.Exact, value: sm.exact, re: null };
  if (sm.prefix !== undefined) return { kind: Kind.Prefix, value: sm.prefix, re: null };
  if (sm.regex !== undefined) {
    if (presenceAllowed && sm.regex === '*') return { kind: Kind.Present, value: '', re: null };
    return { kind: Kind.Regex, value: sm.regex, re: compileRe2(sm.regex) };
  }
  return { kind: Kind.Present, value: '', re: null };
}

/**
 * Literal text a full match of an RE2 pattern must contain: `prefix` (every match starts with it) and `required`
 * (each appears somewhere). Conservative: flags and top-level alternation give nothing; groups, classes and
 * quantified characters end a run. Used only to skip patterns cheaply before running the regex.
 */
export function regexLiterals(pattern: string): { prefix: string; required: string[] } {
  const none = { prefix: '', required: [] };
  let p = pattern;
  if (p.startsWith('^')) p = p.slice(1);
  if (p.startsWith('(?') || hasTopLevelAlternation(p)) return none;
  const runs: string[] = [];
  let prefix: string | null = null;
  let cur = '';
  let leading = true; // nothing but literals so far
  let lastLiteral = false;
  const end = () => {
    if (leading && prefix === null) prefix = cur;
    if (cur) runs.push(cur);
    cur = '';
    leading = false;
  };
  for (let i = 0; i < p.length;) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) return none;
      if (/[^A-Za-z0-9]/.test(n)) {
        cur += n;
        lastLiteral = true;
        i += 2;
        continue;
      }
      if (n === 'Q' || n === 'p' || n === 'P' || n === 'x')
        return { prefix: prefix ?? (leading ? cur : ''), required: runs.concat(cur ? [cur] : []) };
      end();
      lastLiteral = false;
      i += 2;
      continue;
    }
    if (c === '[') {
      end();
      lastLiteral = false;
      i = skipClass(p, i);
      continue;
    }
    if (c === '(') {
      end();
      lastLiteral = false;
      i = skipGroup(p, i);
      continue;
    }
    if (c === '*' || c === '?' || c === '+' || c === '{') {
      const optional = c === '*' || c === '?' || (c === '{' && /^\{0+[,}]/.test(p.slice(i)));
      if (lastLiteral && optional) cur = cur.slice(0, -1);
      end();
      lastLiteral = false;
      if (c === '{') {
        const close = p.indexOf('}', i);
        i = close === -1 ? p.length : close + 1;
      } else i++;
      if (p[i] === '?') i++; // lazy
      continue;
    }
    if (c === '.' || c === '^' || c === '$' || c === '|' || c === ')') {
      end();
      lastLiteral = false;
      i++;
      continue;
    }
    cur += c;
    lastLiteral = true;
    i++;
  }
  // A trailing run is literal only if nothing can follow; it is still required.
  if (leading && prefix === null) prefix = cur;
  if (cur) runs.push(cur);
  const pre: string = prefix ?? '';
  return { prefix: pre, required: runs.filter((r, k) => !(k === 0 && r === pre) && r.length > 0) };
}

/** The literal prefix of an RE2 pattern (see regexLiterals). */
export function literalPrefix(pattern: string): string {
  return regexLiterals(pattern).prefix;
}

function skipClass(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  for (; j < p.length; j++) {
    if (p[j] === '\\') j++;
    else if (p[j] === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      if (close !== -1) j = close + 1;
    } else if (p[j] === ']') return j + 1;
  }
  return p.length;
}

function skipGroup(p: string, i: number): number {
  let depth = 0;
  for (let j = i; j < p.length; j++) {
    const c = p[j];
    if (c === '\\') j++;
    else if (c === '[') j = skipClass(p, j) - 1;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return j + 1;
  }
  return p.length;
}

function hasTopLevelAlternation(p: string): boolean {
  let depth = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '[') i = skipClass(p, i) - 1;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

function escapeRe2(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function headerOps(
  ops: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined,
): HeaderOps {
  if (!ops) return NO_HEADER_OPS;
  const keep = (name: string) => !name.startsWith(':') && name.toLowerCase() !== 'host';
  return Object.freeze({
    set: Object.entries(ops.set ?? {})
      .filter(([k]) => keep(k))
      .map(([k, v]) => [k.toLowerCase(), v] as const),
    add: Object.entries(ops.add ?? {})
      .filter(([k]) => keep(k))
      .map(([k, v]) => [k.toLowerCase(), v] as const),
    remove: (ops.remove ?? []).map((k) => k.toLowerCase()),
  });
}

function hostHeader(ops: { set?: Record<string, string>; add?: Record<string, string> } | undefined): string | null {
  for (const map of [ops?.set, ops?.add])
    for (const [k, v] of Object.entries(map ?? {})) if (/^(host|:authority)$/i.test(k)) return v;
  return null;
}

function gatewayHeaderOps(
  f:
    | { set?: { name?: string; value?: string }[]; add?: { name?: string; value?: string }[]; remove?: string[] }
    | undefined,
): HeaderOps {
  if (!f) return NO_HEADER_OPS;
  return Object.freeze({
    set: (f.set ?? []).map((h) => [h.name!.toLowerCase(), h.value ?? ''] as const),
    add: (f.add ?? []).map((h) => [h.name!.toLowerCase(), h.value ?? ''] as const),
    remove: (f.remove ?? []).map((n) => n.toLowerCase()),
  });
}

/** Destination ops first, then the route's: for `set`, the route's value wins (Envoy applies the less specific later). */
function mergeOps(dest: HeaderOps, route: HeaderOps): HeaderOps {
  if (dest === NO_HEADER_OPS) return route;
  if (route === NO_HEADER_OPS) return dest;
  return Object.freeze({
    set: [...dest.set, ...route.set],
    add: [...dest.add, ...route.add],
    remove: [...dest.remove, ...route.remove],
  });
}

function compileFault(http: HTTPRoute): CompiledRoute['fault'] {
  const f = http.fault;
  if (!f) return null;
  const delayPct = f.delay ? (f.delay.percentage?.value ?? f.delay.percent ?? 0) : 0;
  const abortPct = f.abort ? (f.abort.percentage?.value ?? 0) : 0;
  return {
    delay:
      f.delay && f.delay.fixedDelay !== undefined
        ? {
            delayMs: tryParseDuration(f.delay.fixedDelay) ?? 0,
            percentage: delayPct,
            threshold: percentThreshold(delayPct),
          }
        : null,
    abort: f.abort
      ? {
          httpStatus: f.abort.grpcStatus !== undefined ? null : (f.abort.httpStatus ?? null),
          grpcStatus: f.abort.grpcStatus ?? null,
          grpcCode: f.abort.grpcStatus !== undefined ? (GRPC_STATUS[f.abort.grpcStatus] ?? null) : null,
          percentage: abortPct,
          threshold: percentThreshold(abortPct),
        }
      : null,
  };
}

function compileVsRetries(http: HTTPRoute): RetryPolicy | null {
  const r = http.retries;
  if (!r) return DEFAULT_RETRY_POLICY;
  const attempts = r.attempts ?? 0;
  if (attempts <= 0) return null;
  let retryOn = DEFAULT_RETRY_ON;
  const codes: number[] = [];
  if (r.retryOn !== undefined && r.retryOn.trim() !== '') {
    const policies: string[] = [];
    for (const item of r.retryOn.split(',').map((s) => s.trim())) {
      if (!item) continue;
      if (/^\d+$/.test(item)) {
        if (!codes.includes(Number(item))) codes.push(Number(item));
      } else if (!policies.includes(item)) policies.push(item);
    }
    if (codes.length > 0 && !policies.includes('retriable-status-codes')) policies.push('retriable-status-codes');
    retryOn = policies.join(',');
  }
  return {
    attempts,
    retryOn,
    retriableStatusCodes: codes,
    perTryTimeoutMs: r.perTryTimeout !== undefined ? (tryParseDuration(r.perTryTimeout) ?? 0) : 0,
    backoffBaseMs: r.backoff !== undefined ? (tryParseDuration(r.backoff) ?? 25) : 25,
    retryIgnorePreviousHosts: r.retryIgnorePreviousHosts ?? true,
    hostSelectionRetryMaxAttempts: 5,
    retryRemoteLocalities: r.retryRemoteLocalities ?? false,
  };
}

function compileCors(c: CorsPolicy): CorsPolicyCompiled {
  const origins = [...(c.allowOrigin ?? []).map((o) => ({ exact: o }) as StringMatch), ...(c.allowOrigins ?? [])];
  const maxAgeMs = c.maxAge !== undefined ? tryParseDuration(c.maxAge) : undefined;
  return Object.freeze({
    allowOrigins: origins.map((o) => {
      const m = strMatcher(o, false);
      return (origin: string) => strMatch(m, origin);
    }),
    allowOriginsText: origins.map((o) =>
      o.exact !== undefined ? o.exact : o.prefix !== undefined ? `${o.prefix}*` : `~${o.regex}`,
    ),
    allowMethods: c.allowMethods?.length ? c.allowMethods.join(',') : null,
    allowHeaders: c.allowHeaders?.length ? c.allowHeaders.join(',') : null,
    exposeHeaders: c.exposeHeaders?.length ? c.exposeHeaders.join(',') : null,
    maxAgeSeconds: maxAgeMs !== undefined ? Math.floor(maxAgeMs / 1000) : null,
    allowCredentials: c.allowCredentials ?? null,
    unmatchedPreflights: c.unmatchedPreflights === 'IGNORE' ? 'IGNORE' : 'FORWARD',
  });
}

function grpcToHttpMatch(m: {
  method?: { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string };
  headers?: { type?: 'Exact' | 'RegularExpression'; name?: string; value?: string }[];
}): GatewayHTTPRouteMatch {
  const out: GatewayHTTPRouteMatch = {};
  if (m.headers) out.headers = m.headers;
  const mm = m.method;
  if (mm && (mm.service || mm.method)) {
    if ((mm.type ?? 'Exact') === 'Exact') {
      if (mm.service && mm.method) out.path = { type: 'Exact', value: `/${mm.service}/${mm.method}` };
      else if (mm.service) out.path = { type: 'PathPrefix', value: `/${mm.service}` };
      else out.path = { type: 'RegularExpression', value: `/[^/]+/${escapeRe2(mm.method!)}` };
    } else out.path = { type: 'RegularExpression', value: `/${mm.service || '[^/]+'}/${mm.method || '[^/]+'}` };
  }
  return out;
}

/** Istio ranks by the length of the converted URI match: a PathPrefix value loses its trailing "/". */
function gatewayPathLength(m: GatewayHTTPRouteMatch): number {
  const value = m.path?.value ?? '/';
  if ((m.path?.type ?? 'PathPrefix') === 'PathPrefix' && value !== '/' && value.endsWith('/')) return value.length - 1;
  return value.length;
}

function mergeDelegateRoute(root: HTTPRoute, delegate: HTTPRoute): HTTPRoute | null {
  let match: HTTPMatchRequest[] | undefined;
  if (!root.match?.length) match = delegate.match;
  else if (!delegate.match?.length) match = root.match;
  else {
    match = [];
    for (const r of root.match)
      for (const d of delegate.match) {
        const m = mergeMatch(r, d);
        if (m) match.push(m);
      }
    if (match.length === 0) return null;
  }
  const merged: HTTPRoute = { ...delegate };
  if (match) merged.match = match;
  for (const f of [
    'rewrite',
    'timeout',
    'retries',
    'fault',
    'mirror',
    'mirrors',
    'mirrorPercentage',
    'mirrorPercent',
    'corsPolicy',
    'headers',
  ] as const) {
    if (merged[f] === undefined && root[f] !== undefined) (merged as Record<string, unknown>)[f] = root[f];
  }
  return merged;
}

function mergeMatch(r: HTTPMatchRequest, d: HTTPMatchRequest): HTTPMatchRequest | null {
  const out: HTTPMatchRequest = { ...r, ...d };
  if (r.uri && d.uri) {
    const rp = r.uri.prefix ?? r.uri.exact;
    const dv = d.uri.exact ?? d.uri.prefix;
    if (rp === undefined || dv === undefined) return null;
    if (r.uri.exact !== undefined ? d.uri.exact !== r.uri.exact : !dv.startsWith(rp)) return null;
  }
  for (const f of ['scheme', 'method', 'authority', 'sourceNamespace', 'port'] as const) {
    if (r[f] !== undefined && d[f] !== undefined && JSON.stringify(r[f]) !== JSON.stringify(d[f])) return null;
  }
  for (const f of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels'] as const) {
    const a = r[f] as Record<string, unknown> | undefined;
    const b = d[f] as Record<string, unknown> | undefined;
    if (!a || !b) continue;
    for (const k of Object.keys(a)) if (k in b && JSON.stringify(a[k]) !== JSON.stringify(b[k])) return null;
    (out as Record<string, unknown>)[f] = { ...a, ...b };
  }
  if (r.ignoreUriCase || d.ignoreUriCase) out.ignoreUriCase = true;
  return out;
}

function nsName(r: { metadata?: { namespace?: string; name?: string } }): string {
  return `${r.metadata?.namespace ?? ''}/${r.metadata?.name ?? ''}`;
}

function decodeBase64(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}
