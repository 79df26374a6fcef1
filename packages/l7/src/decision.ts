// What a routing decision says, and the types it is made of. Everything static (backends, retry policy, header
// operations, traffic policies) is computed once at compile time and shared between decisions; a decision only adds
// what depends on the request and on the random draws.
import type { ResolvedTrafficPolicy } from './destination-rule.js';

/** A request as the waypoint sees it after HTTP parsing. */
export interface RouteRequest {
  /** `:method`, e.g. GET. */
  method: string;
  /** `:path` with its query string, e.g. `/reviews/1?x=1`. */
  path: string;
  /** `:authority` (Host), with the port when the client sent one. */
  authority?: string;
  /** `:scheme`; default http. */
  scheme?: string;
  /** Headers by lower-case name; several values are joined with "," for matching, as Envoy does. */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The Service port the request arrived on; defaults to the route table's port. */
  port?: number;
  /** The client, for sidecar-mode `sourceLabels`/`sourceNamespace` matches (a waypoint never matches on these). */
  source?: { namespace?: string; labels?: Readonly<Record<string, string>> };
  /**
   * Claims of the request's validated JWT (RequestAuthentication), for `@request.auth.claims.<name>` header matches;
   * nested claims are reached with dots (`@request.auth.claims.realm.role`). Absent: no token.
   */
  jwtClaims?: Readonly<Record<string, unknown>>;
}

/** Header operations in the order Envoy applies them: remove, then set (overwrite), then add (append). */
export interface HeaderOps {
  readonly set: readonly (readonly [name: string, value: string])[];
  readonly add: readonly (readonly [name: string, value: string])[];
  readonly remove: readonly string[];
}

export const NO_HEADER_OPS: HeaderOps = Object.freeze({ set: [], add: [], remove: [] });

export interface RouteInfo {
  /** The route's name: the VirtualService http route `name`, the HTTPRoute rule `name`, or a generated one. */
  readonly name: string;
  readonly kind: 'VirtualService' | 'HTTPRoute' | 'GRPCRoute' | 'default';
  /** `namespace/name` of the resource; null for the default route. */
  readonly resource: string | null;
  /** Index in `spec.http` (VirtualService) or `spec.rules` (Gateway API). */
  readonly ruleIndex: number;
  /** Index of the match that matched in that route/rule; -1 when it has no matches (matches everything). */
  readonly matchIndex: number;
}

export interface Backend {
  /** FQDN. */
  readonly host: string;
  /** null means the whole service. */
  readonly subset: string | null;
  readonly port: number;
}

export interface WeightedBackend extends Backend {
  /** Share of the traffic in [0, 1]; the shares of a route add up to 1. */
  readonly weight: number;
  /** The weight as written. */
  readonly configuredWeight: number;
  /** Route-level and destination-level request header operations, merged (destination first, route wins). */
  readonly requestHeaders: HeaderOps;
  readonly responseHeaders: HeaderOps;
  /** The DestinationRule traffic policy Istio programs for this (host, subset, port). */
  readonly trafficPolicy: ResolvedTrafficPolicy;
  /** Labels of the subset, or null for the whole service. */
  readonly subsetLabels: Readonly<Record<string, string>> | null;
  /**
   * Why this backend cannot take traffic, or null. VirtualService destinations stay programmed and fail with 503 at
   * runtime (`status` 503); invalid Gateway API backends answer 500 for their share.
   */
  readonly problem: { readonly status: number; readonly reason: string } | null;
}

export interface RetryPolicy {
  /** Retries after the first try (so up to attempts + 1 tries). */
  readonly attempts: number;
  /** Envoy retry_on, comma-separated, without the numeric codes. */
  readonly retryOn: string;
  readonly retriableStatusCodes: readonly number[];
  /** 0 = no per-try timeout. */
  readonly perTryTimeoutMs: number;
  /** Base interval of the jittered exponential backoff (Envoy's default is 25 ms; the cap is 10x the base). */
  readonly backoffBaseMs: number;
  /** Envoy previous_hosts retry predicate (retryIgnorePreviousHosts, default true). */
  readonly retryIgnorePreviousHosts: boolean;
  readonly hostSelectionRetryMaxAttempts: number;
  readonly retryRemoteLocalities: boolean;
}

export interface FaultDecision {
  /** null when the route has no delay fault. */
  readonly delay: { readonly delayMs: number; readonly percentage: number; readonly fired: boolean } | null;
  /** null when the route has no abort fault. Exactly one of httpStatus and grpcStatus is set. */
  readonly abort: {
    readonly httpStatus: number | null;
    readonly grpcStatus: string | null;
    readonly grpcCode: number | null;
    readonly percentage: number;
    readonly fired: boolean;
  } | null;
}

export interface MirrorDecision extends Backend {
  readonly percentage: number;
  /** Whether this request is mirrored (drawn with the decision's Rng). */
  readonly fired: boolean;
}

export interface CorsPolicyCompiled {
  readonly allowOrigins: readonly ((origin: string) => boolean)[];
  readonly allowOriginsText: readonly string[];
  readonly allowMethods: string | null;
  readonly allowHeaders: string | null;
  readonly exposeHeaders: string | null;
  readonly maxAgeSeconds: number | null;
  readonly allowCredentials: boolean | null;
  readonly unmatchedPreflights: 'FORWARD' | 'IGNORE';
}

export type RouteAction = 'forward' | 'redirect' | 'direct-response' | 'no-route' | 'reject';

export interface RouteDecision {
  /**
   * forward: send upstream to `backend`; redirect / direct-response: answer locally; no-route: 404 (no route
   * matched); reject: 400 (a path Envoy refuses, such as one with %00).
   */
  readonly action: RouteAction;
  readonly route: RouteInfo | null;
  /** The weighted backend picked for this request (forward only). */
  readonly backend: WeightedBackend | null;
  /** The whole weighted set of the route (empty for local answers). */
  readonly backends: readonly WeightedBackend[];
  /** What goes upstream: the path after normalization and rewrites, the authority after rewrites. */
  readonly upstream: { readonly path: string; readonly authority: string; readonly scheme: string } | null;
  /** Request header operations to apply before forwarding (the picked backend's merged with the route's). */
  readonly requestHeaders: HeaderOps;
  /** Response header operations for the client's response. */
  readonly responseHeaders: HeaderOps;
  readonly redirect: { readonly status: number; readonly location: string } | null;
  readonly directResponse: { readonly status: number; readonly body: string | null } | null;
  /** Fault injection configured on the route, with whether each fault fired for this request. */
  readonly fault: FaultDecision | null;
  /** null when retries are off (`attempts: 0`). */
  readonly retryPolicy: RetryPolicy | null;
  /** Route timeout in ms; 0 means none (Istio's default). */
  readonly timeoutMs: number;
  readonly mirrors: readonly MirrorDecision[];
  readonly cors: CorsPolicyCompiled | null;
  /** Why: which resource and match decided, or why nothing did. */
  readonly reason: string;
}

// ------------------------------------------------------------------------------------------ header operations

/**
 * Applies header operations to a header record (lower-case names) and returns a new record: remove, then set, then
 * add (an existing value becomes `old,new`, which is how the application sees a repeated header).
 */
export function applyHeaderOps(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  ...opsList: readonly HeaderOps[]
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = typeof v === 'string' ? v : v.join(',');
  }
  for (const ops of opsList) {
    for (const name of ops.remove) delete out[name];
    for (const [name, value] of ops.set) out[name] = value;
    for (const [name, value] of ops.add) out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return out;
}
