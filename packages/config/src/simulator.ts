// The mesh simulator: load a pile of YAML, then ask "would this connection be allowed? where would this request go,
// and why?". Decisions come from the engines (@mesh/authz, @mesh/l7) over the ambient index; results have the
// `meshctl check` JSON shapes (public contract), explanations add the engines' traces and the analysis messages that
// concern the request.
import { seededRng } from '@mesh/core';
import { checkResult, formatExplanation, type CheckResult, type Explanation } from '@mesh/authz';
import { toRouteResult, type RouteDecision, type RouteResult } from '@mesh/l7';
import {
  AmbientIndex,
  type AmbientIndexOptions,
  type ServiceInfo,
  type WaypointInfo,
  type WorkloadInfo,
} from './ambient/index.js';
import { analyze, formatMessage, type AnalysisMessage } from './analysis.js';
import { ConfigError } from './errors.js';
import { isIp } from './ip.js';
import { assertNoErrors, loadFiles, loadText } from './load.js';
import type { ConfigObject } from './resources.js';
import type { ConfigStore } from './store/store.js';
import { validateObject, type ConfigIssue } from './validate.js';

export interface HttpRequestAttributes {
  method: string;
  /** Host / :authority (either name; `authority` wins). */
  host?: string;
  authority?: string;
  /** :path with the query string. */
  path: string;
  headers?: Record<string, string | string[]>;
  /** Claims of a validated JWT; absent means no token. */
  jwtClaims?: Record<string, unknown>;
}

export interface AuthzCheckRequest {
  id: string;
  kind: 'authz';
  at: 'ztunnel' | 'waypoint';
  /** At a waypoint: which one. */
  waypoint?: { name: string; namespace: string };
  /** At a waypoint: the Service (or ServiceEntry) the client addressed. */
  service?: { name: string; namespace: string; port?: number };
  /** `principal` null: plaintext (no peer identity). */
  source: { principal: string | null; ip: string };
  /** At ztunnel: the destination pod IP and target port. */
  destination?: { ip?: string; port?: number };
  http?: HttpRequestAttributes;
}

export interface RouteCheckRequest {
  id: string;
  kind: 'route';
  /** Default: the waypoint the service uses. */
  waypoint?: { name: string; namespace: string };
  service: { name: string; namespace: string; port: number };
  source?: { principal?: string | null; namespace?: string; labels?: Record<string, string>; ip?: string };
  http: HttpRequestAttributes;
}

export type CheckRequest = AuthzCheckRequest | RouteCheckRequest;

export type AuthzCheckResult = CheckResult & { id: string };
export type RouteCheckResult = { id: string } & Omit<RouteResult, 'reason'> & { reason: string };
export type CheckResultLine = AuthzCheckResult | RouteCheckResult;

/** A result with the why: the engine's trace, the analysis messages about what the request touched, and text. */
export interface CheckExplanation {
  result: CheckResultLine;
  /** @mesh/authz's explanation (authz requests, and route requests that a waypoint policy decided). */
  authz?: Explanation;
  /** @mesh/l7's decision (route requests). */
  route?: RouteDecision;
  /** The destination workload (ztunnel), service and waypoint the request resolved to. */
  resolved: { workload?: string; service?: string; waypoint?: string };
  messages: AnalysisMessage[];
  /** Facts about the path worth knowing (e.g. which identity ztunnel sees after a waypoint). */
  hints?: string[];
  /** Human-readable. */
  text: string;
}

export interface SimulatorOptions extends AmbientIndexOptions {
  /** Already validated objects (e.g. `loadFiles(...).objects` or `store.list()`). */
  objects?: readonly ConfigObject[];
  /** Parsed documents (YAML/JSON objects) to validate. */
  resources?: readonly unknown[];
  /** YAML/JSON text. */
  text?: string;
  /** Files and directories. */
  paths?: readonly string[];
  /** Throw ERR_CONFIG_INVALID when the config has errors (default true); with false, invalid objects are left out. */
  strict?: boolean;
  /** Default namespace for objects without one. */
  defaultNamespace?: string;
}

export class Simulator {
  readonly index: AmbientIndex;
  /** Validation problems of the loaded config (warnings; errors too with `strict: false`). */
  readonly issues: readonly ConfigIssue[];
  #messages: AnalysisMessage[] | null = null;

  constructor(index: AmbientIndex, issues: readonly ConfigIssue[] = []) {
    this.index = index;
    this.issues = issues;
  }

  /** All analysis messages for the loaded config. */
  analyze(): AnalysisMessage[] {
    this.#messages ??= analyze(this.index, this.issues);
    return this.#messages;
  }

  /** Evaluates one request (validated first); the `meshctl check` result line. */
  check(request: unknown): CheckResultLine {
    return this.explain(request).result;
  }

  authorize(request: Omit<AuthzCheckRequest, 'kind'> & { kind?: 'authz' }): AuthzCheckResult {
    return this.explain({ ...request, kind: 'authz' }).result as AuthzCheckResult;
  }

  route(request: Omit<RouteCheckRequest, 'kind'> & { kind?: 'route' }): RouteCheckResult {
    return this.explain({ ...request, kind: 'route' }).result as RouteCheckResult;
  }

  explain(input: unknown): CheckExplanation {
    const request = parseCheckRequest(input);
    return request.kind === 'authz' ? this.#authz(request) : this.#route(request);
  }

  #relevant(resources: Set<string>): AnalysisMessage[] {
    return this.analyze().filter((m) => resources.has(m.resource));
  }

  #authz(req: AuthzCheckRequest): CheckExplanation {
    const resources = new Set<string>();
    if (req.at === 'ztunnel') {
      const dest = req.destination;
      if (!dest?.ip || dest.port === undefined)
        invalid(
          req,
          'destination',
          'ztunnel requests need destination.ip (the pod address) and destination.port (the target port)',
        );
      const w = this.#workloadAt(req, dest.ip);
      resources.add(`${w.kind} ${w.namespace}/${w.name}`);
      if (!w.captured) {
        const result: AuthzCheckResult = {
          id: req.id,
          decision: 'allow',
          policy: null,
          reason: `destination ${w.kind} ${w.namespace}/${w.name} is not in the ambient mesh, so ztunnel does not enforce policy for it: ${w.captureReason}`,
        };
        return this.#done(result, { resolved: { workload: w.uid }, messages: this.#relevant(resources) });
      }
      const e = this.#guard(req, () =>
        this.index.authorizer.ztunnel.explain({
          workload: { namespace: w.namespace, labels: w.labels },
          source: { principal: req.source.principal, ip: req.source.ip },
          destination: { ip: dest.ip!, port: dest.port! },
        }),
      );
      for (const t of e.evaluated) resources.add(`AuthorizationPolicy ${t.policy}`);
      for (const n of e.notes) resources.add(`${n.kind} ${n.policy}`);
      if (w.waypoint) resources.add(`Gateway ${w.waypoint.namespace}/${w.waypoint.name}`);
      // Which identity ztunnel sees depends on the path: through a waypoint it is the waypoint's.
      const hints: string[] = [];
      for (const name of w.services.keys()) {
        const s = this.index.services().find((x) => x.resourceName === name);
        if (s?.waypoint) {
          const wp = this.index.waypoint(s.waypoint.namespace, s.waypoint.name);
          if (wp)
            hints.push(
              `traffic to ${s.hostname} passes waypoint ${wp.key} first; ztunnel then sees the waypoint's identity ${wp.identity}, not the client's`,
            );
        }
      }
      const targets = new Set([...w.services.values()].flatMap((m) => [...m.values()]));
      const servicePorts = new Set([...w.services.values()].flatMap((m) => [...m.keys()]));
      if (targets.size > 0 && !targets.has(dest.port!) && servicePorts.has(dest.port!))
        hints.push(
          `port ${dest.port} is a service port of this workload's services; ztunnel sees the target port (${[...targets].sort((a, b) => a - b).join(', ')}), which is what policy ports compare`,
        );
      if (w.waypoint) {
        const wp = this.index.waypoint(w.waypoint.namespace, w.waypoint.name);
        if (wp)
          hints.push(`traffic to the pod's own address passes waypoint ${wp.key}; ztunnel then sees ${wp.identity}`);
      }
      return this.#done(
        { ...checkResult(e, req.id), id: req.id },
        { authz: e, resolved: { workload: w.uid }, messages: this.#relevant(resources), hints },
      );
    }
    const wp = this.#waypoint(req, req.waypoint);
    const svc = req.service ? this.#service(req, req.service) : undefined;
    resources.add(`Gateway ${wp.key}`);
    if (svc) resources.add(`${svc.kind} ${svc.namespace}/${svc.name}`);
    const e = this.#waypointExplain(req, wp, svc, req.service?.port, req.source, req.http);
    for (const t of e.evaluated) resources.add(`AuthorizationPolicy ${t.policy}`);
    const messages = this.#relevant(resources);
    if (svc && !(svc.waypoint && svc.waypoint.namespace === wp.namespace && svc.waypoint.name === wp.name))
      messages.push(notThrough(svc, wp));
    return this.#done(
      { ...checkResult(e, req.id), id: req.id },
      { authz: e, resolved: { waypoint: wp.key, ...(svc ? { service: svc.resourceName } : {}) }, messages },
    );
  }

  #route(req: RouteCheckRequest): CheckExplanation {
    const svc = this.#service(req, req.service);
    const ref = req.waypoint ?? svc.waypoint;
    if (!ref)
      invalid(
        req,
        'waypoint',
        `${svc.kind} ${svc.namespace}/${svc.name} uses no waypoint, and ambient mode applies L7 routing only at waypoints; name one with "waypoint"${svc.waypointProblem ? ` (${svc.waypointProblem.message})` : ''}`,
      );
    const wp = this.#waypoint(req, ref);
    const port = req.service.port;
    if (!svc.ports.some((p) => p.port === port))
      invalid(
        req,
        'service.port',
        `${svc.kind} ${svc.namespace}/${svc.name} has no port ${port} (ports: ${svc.ports.map((p) => p.port).join(', ') || 'none'})`,
      );
    const resources = new Set([`Gateway ${wp.key}`, `${svc.kind} ${svc.namespace}/${svc.name}`]);
    const extra: AnalysisMessage[] = [];
    if (!(svc.waypoint && svc.waypoint.namespace === wp.namespace && svc.waypoint.name === wp.name))
      extra.push(notThrough(svc, wp));
    const resolved = { waypoint: wp.key, service: svc.resourceName };
    const authority = req.http.authority ?? req.http.host ?? `${svc.hostname}:${port}`;

    // The waypoint authorizes before it routes (Envoy's RBAC filter runs before the router).
    const source = {
      principal: req.source?.principal ?? null,
      ip: req.source?.ip ?? this.#sourceIp(req.source?.principal ?? null),
    };
    const e = this.#waypointExplain(req, wp, svc, port, source, { ...req.http, host: authority });
    for (const t of e.evaluated) resources.add(`AuthorizationPolicy ${t.policy}`);
    if (e.decision === 'deny') {
      const result: RouteCheckResult = {
        id: req.id,
        status: e.httpStatus ?? 403,
        upstreamCalled: false,
        route: null,
        reason: e.reason,
      };
      return this.#done(result, { authz: e, resolved, messages: [...this.#relevant(resources), ...extra] });
    }
    const table = this.index.routeTable(wp, svc, port);
    const request = {
      method: req.http.method,
      path: req.http.path,
      authority,
      ...(req.http.headers ? { headers: lowerKeys(req.http.headers) } : {}),
      port,
      ...(req.source?.namespace !== undefined || req.source?.labels !== undefined
        ? {
            source: {
              ...(req.source.namespace !== undefined ? { namespace: req.source.namespace } : {}),
              ...(req.source.labels ? { labels: req.source.labels } : {}),
            },
          }
        : {}),
      ...(req.http.jwtClaims ? { jwtClaims: req.http.jwtClaims } : {}),
    };
    const decision = this.#guard(req, () => table.route(request, { rng: seededRng(1) }));
    const rendered = toRouteResult(decision, request);
    for (const r of table.routes) if (r.resource) resources.add(`${r.kind} ${r.resource}`);
    const result = orderRouteResult({ id: req.id, ...rendered } as RouteCheckResult);
    return this.#done(result, {
      authz: e,
      route: decision,
      resolved,
      messages: [...this.#relevant(resources), ...extra],
    });
  }

  #done(result: CheckResultLine, parts: Omit<CheckExplanation, 'result' | 'text'>): CheckExplanation {
    const lines: string[] = [];
    if ('decision' in result) lines.push(`${result.id}: ${result.decision.toUpperCase()} ${result.reason}`);
    else
      lines.push(
        `${result.id}: ${result.status}${result.route !== null ? ` via route ${result.route}` : ''} ${result.reason}`,
      );
    if (parts.resolved.workload) lines.push(`  destination workload: ${parts.resolved.workload}`);
    if (parts.resolved.service) lines.push(`  service: ${parts.resolved.service}`);
    if (parts.resolved.waypoint) lines.push(`  waypoint: ${parts.resolved.waypoint}`);
    if (parts.authz)
      lines.push(
        ...formatExplanation(parts.authz)
          .split('\n')
          .map((l) => `  ${l}`),
      );
    const rank = { Error: 0, Warning: 1, Info: 2 } as const;
    parts.messages.sort((a, b) => rank[a.level] - rank[b.level] || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
    for (const h of parts.hints ?? []) lines.push(`  hint: ${h}`);
    for (const m of parts.messages) lines.push(`  ${formatMessage(m)}`);
    return { result, ...parts, text: lines.join('\n') };
  }

  #waypointExplain(
    req: CheckRequest,
    wp: WaypointInfo,
    svc: ServiceInfo | undefined,
    port: number | undefined,
    source: { principal: string | null; ip: string },
    http: HttpRequestAttributes | undefined,
  ): Explanation {
    return this.#guard(req, () =>
      this.index.authorizer.waypoint.explain({
        waypoint: { name: wp.name, namespace: wp.namespace },
        ...(svc
          ? {
              service: {
                name: svc.name,
                namespace: svc.namespace,
                kind: svc.kind,
                ...(port !== undefined ? { port } : {}),
              },
            }
          : {}),
        source,
        ...(http
          ? {
              http: {
                method: http.method,
                host: http.authority ?? http.host ?? (svc && port !== undefined ? `${svc.hostname}:${port}` : ''),
                path: http.path,
                ...(http.headers ? { headers: http.headers } : {}),
                ...(http.jwtClaims ? { jwtClaims: http.jwtClaims } : {}),
              },
            }
          : {}),
      }),
    );
  }

  /** Runs an engine call; engine request errors become ERR_CONFIG_INVALID_REQUEST naming the request. */
  #guard<T>(req: CheckRequest, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof Error && 'code' in e && /_INVALID_REQUEST$/.test(String((e as { code: unknown }).code)))
        invalid(req, '', e.message);
      throw e;
    }
  }

  #workloadAt(req: CheckRequest, ip: string): WorkloadInfo {
    const found = this.index.workloadsByIp(ip);
    if (found.length > 0) return found[0]!;
    const services = this.index.servicesByVip(ip);
    if (services.length > 0) {
      const s = services[0]!;
      const eps = this.index.endpoints(s).flatMap((w) => w.ips);
      invalid(
        req,
        'destination.ip',
        `${ip} is the VIP of ${s.kind} ${s.namespace}/${s.name}; ztunnel authorizes at the destination pod, so give an endpoint's IP and target port${eps.length ? ` (endpoints: ${eps.slice(0, 5).join(', ')}${eps.length > 5 ? ', …' : ''})` : ' (it has no endpoints)'}`,
      );
    }
    invalid(req, 'destination.ip', `no Pod, WorkloadEntry or ServiceEntry endpoint has address ${ip}`);
  }

  #waypoint(req: CheckRequest, ref: { name: string; namespace: string } | undefined): WaypointInfo {
    if (!ref) invalid(req, 'waypoint', 'waypoint requests need "waypoint": {"name": …, "namespace": …}');
    const wp = this.index.waypoint(ref.namespace, ref.name);
    if (wp) return wp;
    const gw = this.index.gateway(ref.namespace, ref.name);
    invalid(
      req,
      'waypoint',
      gw
        ? `Gateway ${ref.namespace}/${ref.name} is not a waypoint (class ${gw.spec.gatewayClassName}, no HBONE listener on 15008, no status address)`
        : `no waypoint Gateway ${ref.namespace}/${ref.name} in the config`,
    );
  }

  #service(req: CheckRequest, ref: { name: string; namespace: string }): ServiceInfo {
    const s = this.index.service(ref.namespace, ref.name);
    if (!s) invalid(req, 'service', `no Service or ServiceEntry ${ref.namespace}/${ref.name} in the config`);
    return s;
  }

  /** A source IP for a principal: the first workload running as it, else 0.0.0.0 (IP rules then see that). */
  #sourceIp(principal: string | null): string {
    if (principal) {
      const id = principal.startsWith('spiffe://') ? principal : `spiffe://${principal}`;
      for (const w of this.index.workloads()) if (w.identity === id && w.ips[0]) return w.ips[0];
    }
    return '0.0.0.0';
  }
}

const ROUTE_KEYS = [
  'id',
  'status',
  'upstreamCalled',
  'route',
  'backend',
  'backends',
  'upstream',
  'response',
  'redirect',
  'fault',
  'retryPolicy',
  'timeout',
  'mirrors',
  'reason',
];

/** The contract's key order (JSON consumers do not care; people reading the lines do). */
function orderRouteResult(r: RouteCheckResult): RouteCheckResult {
  const out: Record<string, unknown> = {};
  for (const k of ROUTE_KEYS) if (k in r) out[k] = (r as unknown as Record<string, unknown>)[k];
  for (const [k, v] of Object.entries(r)) if (!(k in out)) out[k] = v;
  return out as unknown as RouteCheckResult;
}

function notThrough(svc: ServiceInfo, wp: WaypointInfo): AnalysisMessage {
  return {
    code: 'MESH-W0011',
    level: 'Warning',
    name: 'WaypointNotOnPath',
    resource: `${svc.kind} ${svc.namespace}/${svc.name}`,
    message: svc.waypoint
      ? `${svc.kind} ${svc.namespace}/${svc.name} uses waypoint ${svc.waypoint.namespace}/${svc.waypoint.name}, not ${wp.key}: real traffic does not pass through ${wp.key}`
      : `${svc.kind} ${svc.namespace}/${svc.name} uses no waypoint: real traffic does not pass through ${wp.key}`,
  };
}

function lowerKeys(h: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

function invalid(req: { id?: unknown } | null, path: string, message: string): never {
  const id = req && typeof req.id === 'string' ? req.id : undefined;
  throw new ConfigError(
    'ERR_CONFIG_INVALID_REQUEST',
    `${id !== undefined ? `request ${id}: ` : ''}${path ? `${path}: ` : ''}${message}`,
    {
      details: { ...(id !== undefined ? { id } : {}), path },
    },
  );
}

// ------------------------------------------------------------------------------------------ request validation

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a request's shape (throws ERR_CONFIG_INVALID_REQUEST naming the field). */
export function parseCheckRequest(input: unknown): CheckRequest {
  if (!isObject(input)) invalid(null, '', 'a request must be a JSON object');
  const r = input;
  const need = (cond: boolean, path: string, what: string): void => {
    if (!cond) invalid(r, path, what);
  };
  need(typeof r.id === 'string' && r.id.length > 0, 'id', 'must be a non-empty string');
  // Unknown keys are errors: a misspelled "http" would otherwise silently turn a request into a TCP connection.
  const only = (o: unknown, path: string, keys: readonly string[]) => {
    if (!isObject(o)) return;
    for (const k of Object.keys(o))
      if (!keys.includes(k)) invalid(r, path ? `${path}.${k}` : k, `unknown field (expected ${keys.join(', ')})`);
  };
  only(r, '', ['id', 'kind', 'at', 'waypoint', 'service', 'source', 'destination', 'http']);
  only(r.waypoint, 'waypoint', ['name', 'namespace']);
  only(r.service, 'service', ['name', 'namespace', 'port']);
  only(r.source, 'source', ['principal', 'ip', 'namespace', 'labels']);
  only(r.destination, 'destination', ['ip', 'port']);
  only(r.http, 'http', ['method', 'host', 'authority', 'path', 'headers', 'jwtClaims']);
  need(r.kind === 'authz' || r.kind === 'route', 'kind', 'must be "authz" or "route"');
  const ref = (v: unknown, path: string, port: 'required' | 'optional' | 'none') => {
    need(isObject(v), path, 'must be an object with name and namespace');
    const o = v as Record<string, unknown>;
    need(typeof o.name === 'string' && o.name !== '', `${path}.name`, 'must be a non-empty string');
    need(typeof o.namespace === 'string' && o.namespace !== '', `${path}.namespace`, 'must be a non-empty string');
    if (port === 'required' || o.port !== undefined)
      need(
        Number.isInteger(o.port) && (o.port as number) > 0 && (o.port as number) < 65536,
        `${path}.port`,
        'must be a port number',
      );
  };
  const http = (v: unknown, path: string) => {
    need(isObject(v), path, 'must be an object with method and path');
    const h = v as Record<string, unknown>;
    need(typeof h.method === 'string' && h.method !== '', `${path}.method`, 'must be a non-empty string');
    need(typeof h.path === 'string' && h.path.startsWith('/'), `${path}.path`, 'must be a string starting with "/"');
    for (const k of ['host', 'authority'] as const)
      if (h[k] !== undefined) need(typeof h[k] === 'string', `${path}.${k}`, 'must be a string');
    if (h.headers !== undefined) {
      need(isObject(h.headers), `${path}.headers`, 'must be an object of header name to string');
      for (const [k, val] of Object.entries(h.headers as object))
        need(
          typeof val === 'string' || (Array.isArray(val) && val.every((x) => typeof x === 'string')),
          `${path}.headers.${k}`,
          'must be a string or a list of strings',
        );
    }
    if (h.jwtClaims !== undefined && h.jwtClaims !== null)
      need(isObject(h.jwtClaims), `${path}.jwtClaims`, 'must be an object');
  };
  const principal = (v: unknown, path: string) =>
    need(
      v === null || (typeof v === 'string' && v !== ''),
      path,
      'must be a SPIFFE identity string (`cluster.local/ns/<ns>/sa/<sa>`) or null for plaintext',
    );
  if (r.kind === 'authz') {
    need(r.at === 'ztunnel' || r.at === 'waypoint', 'at', 'must be "ztunnel" or "waypoint"');
    need(isObject(r.source), 'source', 'must be an object with principal and ip');
    const s = r.source as Record<string, unknown>;
    need('principal' in s, 'source.principal', 'is required (null for plaintext)');
    principal(s.principal, 'source.principal');
    need(typeof s.ip === 'string' && isIp(s.ip), 'source.ip', 'must be an IP address');
    if (r.at === 'ztunnel') {
      need(isObject(r.destination), 'destination', 'must be an object with ip and port');
      const d = r.destination as Record<string, unknown>;
      need(typeof d.ip === 'string' && isIp(d.ip), 'destination.ip', 'must be an IP address');
      need(
        Number.isInteger(d.port) && (d.port as number) > 0 && (d.port as number) < 65536,
        'destination.port',
        'must be a port number',
      );
    } else {
      ref(r.waypoint, 'waypoint', 'none');
      if (r.service !== undefined) ref(r.service, 'service', 'optional');
      if (r.destination !== undefined) need(isObject(r.destination), 'destination', 'must be an object');
    }
    if (r.http !== undefined) http(r.http, 'http');
    if (r.http !== undefined && r.at === 'ztunnel')
      invalid(r, 'http', 'ztunnel sees connections, not HTTP requests: drop "http" or ask at the waypoint');
  } else {
    ref(r.service, 'service', 'required');
    if (r.waypoint !== undefined) ref(r.waypoint, 'waypoint', 'none');
    http(r.http, 'http');
    if (r.source !== undefined) {
      need(isObject(r.source), 'source', 'must be an object');
      const s = r.source as Record<string, unknown>;
      if (s.principal !== undefined) principal(s.principal, 'source.principal');
      if (s.ip !== undefined) need(typeof s.ip === 'string' && isIp(s.ip), 'source.ip', 'must be an IP address');
      if (s.namespace !== undefined) need(typeof s.namespace === 'string', 'source.namespace', 'must be a string');
      if (s.labels !== undefined) need(isObject(s.labels), 'source.labels', 'must be an object of strings');
    }
  }
  return r as unknown as CheckRequest;
}

// ------------------------------------------------------------------------------------------ construction

/** Builds a simulator from objects, documents, text or files (any mix). */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const objects: ConfigObject[] = [...(options.objects ?? [])];
  const issues: ConfigIssue[] = [];
  const v = options.defaultNamespace !== undefined ? { defaultNamespace: options.defaultNamespace } : {};
  (options.resources ?? []).forEach((o, document) => {
    const r = validateObject(o, { document }, v);
    issues.push(...r.issues);
    if (r.object) objects.push(r.object);
  });
  if (options.text !== undefined) {
    const r = loadText(options.text, v);
    issues.push(...r.issues);
    objects.push(...r.objects);
  }
  if (options.paths?.length) {
    const r = loadFiles(options.paths, v);
    issues.push(...r.issues);
    objects.push(...r.objects);
  }
  if (options.strict !== false) assertNoErrors(issues);
  // Later duplicates replace earlier ones (a warning each).
  const byKey = new Map<string, ConfigObject>();
  for (const o of objects) {
    const prev = byKey.get(o.key);
    if (prev)
      issues.push({
        severity: 'warning',
        path: 'metadata.name',
        message: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} is defined more than once; this definition replaces the one at ${prev.origin.file ?? '<input>'}#${prev.origin.document ?? 0}`,
        ...o.origin,
      });
    byKey.set(o.key, o);
  }
  return new Simulator(AmbientIndex.from([...byKey.values()], options), issues);
}

/** A simulator over a store's current content. */
export function simulatorFromStore(store: ConfigStore, options: AmbientIndexOptions = {}): Simulator {
  return new Simulator(AmbientIndex.from(store.list(), options), store.issues);
}
