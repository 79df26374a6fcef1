// The request attributes a waypoint's RBAC filter sees, computed once per request.
import { AuthzError } from '../errors.js';
import { newParsedAddress, parseAddressInto, type ParsedAddress } from '../match/ip.js';
import { normalizePath, type PathNormalization } from '../match/path.js';

/** The HTTP part of a request at a waypoint. Omit it for TCP traffic through the waypoint. */
export interface HttpAttributes {
  method: string;
  /** The Host / :authority header, port included when the client sent one. */
  host: string;
  /** The request path as sent, query string included (authorization sees it normalized and without the query). */
  path: string;
  /** Header names are case-insensitive; repeated headers as arrays (joined with "," for matching). */
  headers?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * Claims of a JWT that a RequestAuthentication already validated; absent when the request carries no token.
   * `iss` and `sub` make the request principal `<iss>/<sub>`.
   */
  jwtClaims?: Readonly<Record<string, unknown>> | null;
}

export interface WaypointRequest {
  /** The waypoint (a Gateway of class istio-waypoint) handling the request. */
  waypoint: { name: string; namespace: string };
  /** The Service or ServiceEntry the client addressed. */
  service?: { name: string; namespace: string; kind?: 'Service' | 'ServiceEntry'; port?: number };
  source: {
    /** The original client's identity (carried in HBONE); null for plaintext. With or without `spiffe://`. */
    principal: string | null;
    ip: string;
  };
  /**
   * What `ports`, `destination.port` and `destination.ip` compare. `port` defaults to `service.port` (which port the
   * waypoint's RBAC sees, Service or target port, is an open question upstream).
   */
  destination?: { ip?: string; port?: number };
  http?: HttpAttributes;
  /** The downstream TLS SNI (`connection.sni`). */
  sni?: string;
  /** Dynamic metadata for `experimental.envoy.filters.<filter>[<key>]` conditions. */
  filterMetadata?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface RequestContext {
  http: boolean;
  principal: string | null;
  trustDomain: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  sourceIp: ParsedAddress;
  remoteIp: ParsedAddress;
  destinationIp: ParsedAddress | null;
  port: number | null;
  method: string;
  host: string;
  path: string;
  headers: Map<string, string>;
  claims: Readonly<Record<string, unknown>> | null;
  requestPrincipal: { iss: string; sub: string } | null;
  sni: string | null;
  metadata: WaypointRequest['filterMetadata'];
}

export interface ContextOptions {
  pathNormalization?: PathNormalization;
  /** MeshConfig defaultConfig.gatewayTopology.numTrustedProxies: X-Forwarded-For hops to trust (default 0). */
  numTrustedProxies?: number;
}

function invalid(message: string): never {
  throw new AuthzError('ERR_AUTHZ_INVALID_REQUEST', message);
}

function parse(text: string, what: string): ParsedAddress {
  const a = newParsedAddress();
  if (!parseAddressInto(text, a)) invalid(`${what} "${text}" is not an IP address`);
  return a;
}

/** Builds the context, or returns the 400 Envoy answers before authorization runs. */
export function requestContext(
  req: WaypointRequest,
  options: ContextOptions = {},
): { ok: true; ctx: RequestContext } | { ok: false; reason: string } {
  const raw = req.source.principal;
  const principal = raw === null || raw === undefined ? null : raw.startsWith('spiffe://') ? raw.slice(9) : raw;
  const parts = principal?.split('/') ?? [];
  const spiffe = parts.length === 5 && parts[1] === 'ns' && parts[3] === 'sa';
  const sourceIp = parse(req.source.ip, 'source ip');
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(req.http?.headers ?? {})) {
    const key = name.toLowerCase();
    const joined = typeof value === 'string' ? value : value.join(',');
    headers.set(key, headers.has(key) ? `${headers.get(key)},${joined}` : joined);
  }
  let remoteIp = sourceIp;
  const hops = options.numTrustedProxies ?? 0;
  const xff = headers.get('x-forwarded-for');
  if (hops > 0 && xff) {
    const chain = xff.split(',').map((s) => s.trim());
    const candidate = chain[chain.length - hops];
    const parsed = newParsedAddress();
    if (candidate && parseAddressInto(candidate, parsed)) remoteIp = parsed;
  }
  const port = req.destination?.port ?? req.service?.port ?? null;
  if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535))
    invalid(`destination port ${port} is not a port number`);
  let path = '';
  if (req.http) {
    const normalized = normalizePath(req.http.path, options.pathNormalization);
    if (!normalized.ok) return { ok: false, reason: normalized.reason };
    path = normalized.path;
  }
  const claims = req.http?.jwtClaims ?? null;
  const iss = claims && typeof claims.iss === 'string' ? claims.iss : '';
  const sub = claims && typeof claims.sub === 'string' ? claims.sub : '';
  return {
    ok: true,
    ctx: {
      http: req.http !== undefined,
      principal,
      trustDomain: spiffe ? parts[0]! : null,
      namespace: spiffe ? parts[2]! : null,
      serviceAccount: spiffe ? parts[4]! : null,
      sourceIp,
      remoteIp,
      destinationIp: req.destination?.ip ? parse(req.destination.ip, 'destination ip') : null,
      port,
      method: req.http?.method ?? '',
      host: (req.http?.host ?? '').toLowerCase(),
      path,
      headers,
      claims,
      requestPrincipal: claims ? { iss, sub } : null,
      sni: req.sni ?? null,
      metadata: req.filterMetadata,
    },
  };
}
