// Envoy's CORS filter as Istio configures it from corsPolicy (reference §3.13).
import type { CorsPolicyCompiled, RouteRequest } from './decision.js';

export type CorsOutcome =
  /** Not a CORS request (no Origin header) or the route has no policy: nothing to do. */
  | { kind: 'none' }
  /** A preflight the proxy answers itself (200) with these headers. */
  | { kind: 'preflight'; status: 200; headers: Record<string, string> }
  /** Forward the request upstream and add these headers to its response (empty when the origin is not allowed). */
  | { kind: 'forward'; responseHeaders: Record<string, string> };

/** What the CORS filter does with `request` under `policy` (from `decision.cors`). */
export function evaluateCors(policy: CorsPolicyCompiled | null, request: RouteRequest): CorsOutcome {
  const origin = header(request, 'origin');
  if (!policy || origin === undefined) return { kind: 'none' };
  const allowed = policy.allowOrigins.some((m) => m(origin));
  const preflight = request.method === 'OPTIONS' && header(request, 'access-control-request-method') !== undefined;
  if (preflight) {
    if (!allowed) {
      return policy.unmatchedPreflights === 'FORWARD'
        ? { kind: 'forward', responseHeaders: {} }
        : { kind: 'preflight', status: 200, headers: {} };
    }
    const headers: Record<string, string> = { 'access-control-allow-origin': origin };
    if (policy.allowMethods) headers['access-control-allow-methods'] = policy.allowMethods;
    if (policy.allowHeaders) headers['access-control-allow-headers'] = policy.allowHeaders;
    if (policy.maxAgeSeconds !== null) headers['access-control-max-age'] = String(policy.maxAgeSeconds);
    if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    return { kind: 'preflight', status: 200, headers };
  }
  if (!allowed) return { kind: 'forward', responseHeaders: {} };
  const responseHeaders: Record<string, string> = { 'access-control-allow-origin': origin };
  if (policy.exposeHeaders) responseHeaders['access-control-expose-headers'] = policy.exposeHeaders;
  if (policy.allowCredentials) responseHeaders['access-control-allow-credentials'] = 'true';
  return { kind: 'forward', responseHeaders };
}

function header(request: RouteRequest, name: string): string | undefined {
  const h = request.headers;
  if (!h) return undefined;
  const v = h[name] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}
