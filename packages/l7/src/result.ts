// The routing result JSON of `meshctl check` (issue 8's contract), computed from a RouteDecision.
import { applyHeaderOps, type HeaderOps, type RouteDecision, type RouteRequest } from './decision.js';
import { formatDuration } from './duration.js';

export interface RouteResultBackend {
  host: string;
  subset: string | null;
  port: number;
}

export interface RouteResult {
  /** What the client sees when every 100% fault applies and no lower-percentage fault fires. */
  status: number;
  upstreamCalled: boolean;
  route: string | null;
  backend?: RouteResultBackend;
  backends?: (RouteResultBackend & { weight: number })[];
  upstream?: { path: string; authority: string; headers: Record<string, string> };
  response?: { headers: Record<string, string> };
  redirect?: { status: number; location: string };
  fault?: {
    delay?: { fixedDelay: string; percentage: number };
    abort?: { httpStatus?: number; grpcStatus?: string; percentage: number };
  };
  retryPolicy?: { attempts: number; retryOn: string; perTryTimeout: string | null } | null;
  timeout?: string;
  mirrors?: (RouteResultBackend & { percentage: number })[];
  /** Why (not part of the wire contract's required keys). */
  reason: string;
}

/**
 * Renders a decision in the `meshctl check` routing-result shape. `status` and `upstreamCalled` assume every fault
 * with percentage 100 fires and no other does (the decision's own random draws are not used), so the result is
 * deterministic. Upstream headers are the request's headers after the route's operations.
 */
export function toRouteResult(decision: RouteDecision, request: RouteRequest): RouteResult {
  const d = decision;
  const out: RouteResult = { status: 200, upstreamCalled: false, route: d.route?.name ?? null, reason: d.reason };
  if (d.backends.length > 0) {
    out.backends = d.backends.map((b) => ({ host: b.host, subset: b.subset, port: b.port, weight: b.weight }));
    if (d.backends.length === 1) {
      const b = d.backends[0]!;
      out.backend = { host: b.host, subset: b.subset, port: b.port };
    }
  }
  const responseHeaders = renderResponseHeaders(d.responseHeaders);
  if (Object.keys(responseHeaders).length > 0) out.response = { headers: responseHeaders };
  if (d.fault) {
    out.fault = {};
    if (d.fault.delay)
      out.fault.delay = { fixedDelay: formatDuration(d.fault.delay.delayMs), percentage: d.fault.delay.percentage };
    if (d.fault.abort)
      out.fault.abort = {
        ...(d.fault.abort.httpStatus !== null ? { httpStatus: d.fault.abort.httpStatus } : {}),
        ...(d.fault.abort.grpcStatus !== null ? { grpcStatus: d.fault.abort.grpcStatus } : {}),
        percentage: d.fault.abort.percentage,
      };
  }
  if (d.route) {
    out.retryPolicy = d.retryPolicy
      ? {
          attempts: d.retryPolicy.attempts,
          retryOn: d.retryPolicy.retryOn,
          perTryTimeout: d.retryPolicy.perTryTimeoutMs > 0 ? formatDuration(d.retryPolicy.perTryTimeoutMs) : null,
        }
      : null;
    out.timeout = formatDuration(d.timeoutMs);
  }
  switch (d.action) {
    case 'redirect':
      out.status = d.redirect!.status;
      out.redirect = { ...d.redirect! };
      return out;
    case 'direct-response':
    case 'no-route':
    case 'reject':
      out.status = d.directResponse!.status;
      return out;
    case 'forward':
      break;
  }
  const abort = d.fault?.abort;
  if (abort && abort.percentage >= 100) {
    out.status = abort.httpStatus ?? 200;
    return out;
  }
  if (d.backend?.problem) {
    out.status = d.backend.problem.status;
    return out;
  }
  out.upstreamCalled = true;
  const headers = applyHeaderOps(request.headers ?? {}, d.requestHeaders);
  out.upstream = { path: d.upstream!.path, authority: d.upstream!.authority, headers };
  if (d.mirrors.length > 0)
    out.mirrors = d.mirrors.map((m) => ({ host: m.host, subset: m.subset, port: m.port, percentage: m.percentage }));
  return out;
}

function renderResponseHeaders(ops: HeaderOps): Record<string, string> {
  return applyHeaderOps({}, { set: ops.set, add: ops.add, remove: [] });
}
