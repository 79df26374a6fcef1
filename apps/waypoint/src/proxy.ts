// The data path. Per tunnel: detect HTTP/1.1 or HTTP/2 (prior knowledge) on the first bytes, else forward at L4 with
// L4 authorization. Per HTTP request: RequestAuthentication → AuthorizationPolicy → route → fault → endpoint pick
// (load balancer, outlier detection, circuit breaker) → tries with per-try timeouts and backoff, under the route
// timeout → HBONE to the pod; mirrors fire and forget. Decisions come from @mesh/l7 and @mesh/authz; this file only
// executes them and records what happened.
import { randomUUID } from 'node:crypto';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Clock, Rng } from '@mesh/core';
import { relay, type HbonePool, type HboneTunnel, type WorkloadBaggage } from '@mesh/hbone';
import {
  applyHeaderOps,
  effectiveTrafficPolicy,
  evaluateCors,
  resolveDestinationRule,
  type HeaderOps,
  type RouteDecision,
  type RouteRequest,
  type WeightedBackend,
} from '@mesh/l7';
import { requestHash, retryBackoffMs, shouldRetry, type AttemptOutcome } from '@mesh/l7/runtime';
import { endpointsFor, type Cluster, type ClusterEndpoint, type Clusters } from './cluster.js';
import { bufferSource, RequestBody } from './body.js';
import { authenticate, type JwksCache } from './jwt.js';
import type { Logger } from './log.js';
import { workloadService, type ServicePortView, type ServiceView, type WaypointView } from './model.js';
import {
  propagationHeaders,
  traceContext,
  TRACE_HEADERS,
  type Labels,
  type OtlpExporter,
  type TraceContext,
  type WaypointMetrics,
} from './telemetry.js';
import { socketLike, type UpstreamResponse, type Upstreams } from './upstream.js';

export interface ProxyOptions {
  view: () => WaypointView | undefined;
  clusters: Clusters;
  upstreams: Upstreams;
  pool: HbonePool;
  hbonePort: number;
  identity: () => string;
  /** The local address upstream tunnels leave from (our pod IP), when the listener has a specific one. */
  sourceAddress?: string;
  metrics: WaypointMetrics;
  log: Logger;
  accessLog: boolean;
  exporter: OtlpExporter | null;
  jwks: JwksCache;
  clock: Clock;
  rng: Rng;
  clusterId: string;
  /** How long to wait for the client's first bytes before treating the tunnel as opaque TCP. */
  detectTimeoutMs?: number;
  /**
   * Request body bytes kept per request so that retries and mirrors can resend it (Envoy's per-request retry/shadow
   * buffer, 1 MiB by default). A larger body still streams through, but is neither retried nor mirrored.
   */
  maxRequestBufferBytes?: number;
}

export const DEFAULT_MAX_REQUEST_BUFFER_BYTES = 1024 * 1024;

/** What the HBONE CONNECT told us about the tunnel (view/service/port: as resolved at CONNECT time). */
export interface TunnelContext {
  readonly view: WaypointView;
  readonly service: ServiceView;
  readonly port: ServicePortView;
  /** The CONNECT authority's host (a VIP or hostname): each request resolves it again on the current config. */
  readonly host: string;
  /** The original client's SPIFFE ID (the tunnel's mTLS peer). */
  readonly peerIdentity: string;
  readonly sourceIp: string;
  readonly baggage: WorkloadBaggage;
}

const NEVER = new AbortController().signal;
const TRACE_HEADER_SET = new Set(TRACE_HEADERS);
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const H1_METHOD = /^(GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|PRI|[A-Z]{3,16}) /;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'http2-settings',
]);

export type Protocol = 'http1' | 'http2' | 'tcp';

/** What the first bytes of a tunnel say (null: not enough bytes to tell yet). */
export function detectProtocol(first: Buffer): Protocol | null {
  const n = Math.min(first.length, H2_PREFACE.length);
  if (first.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return n === H2_PREFACE.length ? 'http2' : null;
  const text = first.subarray(0, 24).toString('latin1');
  if (H1_METHOD.test(text)) return 'http1';
  if (first.length < 18 && /^[A-Z]*$/.test(text)) return null;
  return 'tcp';
}

const declaredTcp = (p: ServicePortView) => {
  const proto = (p.protocol ?? '').toUpperCase();
  const name = (p.name ?? '').toLowerCase();
  return ['TCP', 'TLS', 'MONGO', 'MYSQL', 'REDIS'].includes(proto) || /^(tcp|tls|mongo|mysql|redis)(-|$)/.test(name);
};

interface Outcome {
  status: number;
  flags: string[];
  endpoint: ClusterEndpoint | null;
  cluster: Cluster | null;
  requestBytes: number;
  responseBytes: number;
  route: string;
  upstreamMs: number | null;
  attempts: number;
  /** CORS headers for whatever response the client gets (Envoy's CORS filter sits before fault and router). */
  cors: Record<string, string> | null;
  /** gRPC status from the response trailers (or a trailers-only response's headers); '' for non-gRPC. */
  grpcStatus: string;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

export class Proxy {
  readonly #o: ProxyOptions;
  readonly #inflight = new Set<Promise<void>>();
  constructor(options: ProxyOptions) {
    this.#o = options;
  }

  /** Requests being handled (for drain). */
  get inflight(): number {
    return this.#inflight.size;
  }

  handleTunnel(tunnel: HboneTunnel, ctx: TunnelContext): void {
    socketLike(tunnel);
    if (declaredTcp(ctx.port)) {
      void this.#l4(tunnel, ctx, null);
      return;
    }
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish('tcp'), this.#o.detectTimeoutMs ?? 1000);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const p = detectProtocol(buffered);
      if (p) finish(p);
    };
    const onEnd = () => finish('tcp');
    let done = false;
    const finish = (p: Protocol) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      tunnel.off('data', onData);
      tunnel.off('end', onEnd);
      tunnel.pause();
      if (buffered.length > 0) tunnel.unshift(buffered);
      if (p === 'tcp') void this.#l4(tunnel, ctx, buffered);
      else this.#http(tunnel, ctx, p);
    };
    tunnel.on('data', onData);
    tunnel.once('end', onEnd);
    // A tunnel that fails before it said anything is gone: nothing to detect or forward.
    tunnel.on('error', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
    });
  }

  #http(tunnel: Duplex, ctx: TunnelContext, protocol: 'http1' | 'http2'): void {
    const handler = (req: AnyRequest, res: AnyResponse) => {
      const p = this.#request(req, res, ctx, protocol).catch((error: unknown) => {
        this.#o.log.error({ err: error }, 'request handling failed');
        if (!res.headersSent) {
          res.writeHead(500);
          res.end();
        } else res.destroy();
      });
      this.#inflight.add(p);
      void p.finally(() => this.#inflight.delete(p));
    };
    if (protocol === 'http1') {
      const server = createHttp1Server({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 60_000 }, handler);
      server.emit('connection', tunnel);
    } else {
      const server = createHttp2Server({}, handler);
      server.on('sessionError', () => {});
      server.emit('connection', tunnel);
    }
    tunnel.resume();
  }

  async #l4(tunnel: HboneTunnel, ctx: TunnelContext, _first: Buffer | null): Promise<void> {
    const { view, service, port } = ctx;
    const labels = this.#labels(ctx, null, 'tcp', 0, '-');
    const decision = view.authorizer.waypoint.authorize({
      waypoint: { name: view.waypoint.name, namespace: view.waypoint.namespace },
      ...targetOf(service, port),
      source: { principal: ctx.peerIdentity, ip: ctx.sourceIp },
    });
    const tcpLabels = tcpOnly(labels);
    if (decision.decision === 'deny') {
      this.#o.log.info({ service: service.hostname, reason: decision.reason }, 'L4 connection denied');
      tcpLabels.response_flags = 'DENY';
      this.#o.metrics.tcpOpened.inc(tcpLabels);
      this.#o.metrics.tcpClosed.inc(tcpLabels);
      tunnel.reset();
      return;
    }
    // L4 routes: TCPRoute, VirtualService tls/tcp, else the service; the subset's labels come from the DestinationRules.
    const route = service.tcpTable(port.port).route({ port: port.port }, { rng: this.#o.rng });
    const b = route.backend;
    const dr = b.subset
      ? resolveDestinationRule({
          destinationRules: service.destinationRules,
          host: b.host,
          proxyNamespace: view.waypoint.namespace,
          rootNamespace: view.waypoint.rootNamespace,
          domainSuffix: view.waypoint.domainSuffix,
        })
      : null;
    const subsetLabels = b.subset ? (dr?.subsets.get(b.subset)?.labels ?? { 'mesh.invalid/subset': b.subset }) : null;
    const endpoints = endpointsFor(view, { host: b.host, port: b.port, subsetLabels });
    const endpoint = endpoints[Math.floor(this.#o.rng.next() * endpoints.length)];
    if (!endpoint) {
      tcpLabels.response_flags = 'UH';
      this.#o.metrics.tcpOpened.inc(tcpLabels);
      this.#o.metrics.tcpClosed.inc(tcpLabels);
      tunnel.reset();
      return;
    }
    Object.assign(tcpLabels, tcpOnly(this.#labels(ctx, endpoint, 'tcp', 0, '-')));
    this.#o.metrics.tcpOpened.inc(tcpLabels);
    try {
      const host = endpoint.ip.includes(':') ? `[${endpoint.ip}]` : endpoint.ip;
      const upstream = await this.#o.pool.dial({
        target: `${host}:${endpoint.port}`,
        via: `${host}:${this.#o.hbonePort}`,
        expectedIdentities: [endpoint.identity],
        source: {
          identity: this.#o.identity(),
          ...(this.#o.sourceAddress ? { address: this.#o.sourceAddress } : {}),
        },
      });
      const result = await relay(tunnel, upstream);
      this.#o.metrics.tcpReceived.inc(tcpLabels, result.aToB ?? 0);
      this.#o.metrics.tcpSent.inc(tcpLabels, result.bToA ?? 0);
    } catch (error) {
      tcpLabels.response_flags = 'UF';
      this.#o.log.warn({ err: (error as Error).message, upstream: endpoint.address }, 'L4 upstream failed');
      tunnel.reset();
    } finally {
      this.#o.metrics.tcpClosed.inc(tcpLabels);
    }
  }

  // ------------------------------------------------------------------------------------------------- HTTP

  async #request(
    req: AnyRequest,
    res: AnyResponse,
    tunnelCtx: TunnelContext,
    protocol: 'http1' | 'http2',
  ): Promise<void> {
    const o = this.#o;
    // A kept-alive tunnel outlives config pushes: every request runs on the latest snapshot.
    const ctx = this.#current(tunnelCtx);
    const started = o.clock.monotonic();
    const startedAt = o.clock.now();
    const headers = req.headers as IncomingHttpHeaders;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const authority = (headers[':authority'] as string | undefined) ?? headers.host ?? ctx.service.hostname;
    const trace = traceContext(headers);
    const requestId = (headers['x-request-id'] as string | undefined) ?? randomUUID();
    // Streamed upstream as it arrives, not read first: only the replay buffer's worth is ever held.
    const body = hasBody(req, headers)
      ? new RequestBody(req, o.maxRequestBufferBytes ?? DEFAULT_MAX_REQUEST_BUFFER_BYTES)
      : null;
    const outcome: Outcome = {
      status: 0,
      flags: [],
      endpoint: null,
      cluster: null,
      requestBytes: headerBytes(headers),
      responseBytes: 0,
      route: '-',
      upstreamMs: null,
      attempts: 0,
      cors: null,
      grpcStatus: '',
    };
    const reply = (
      status: number,
      text: string | null,
      flags: string[],
      extra: Record<string, string> = {},
      ops?: HeaderOps,
    ) => {
      outcome.status = status;
      outcome.flags.push(...flags);
      const h = applyHeaderOps(
        { ...(text ? { 'content-type': 'text/plain' } : {}), ...extra, ...outcome.cors },
        ...(ops ? [ops] : []),
      );
      const payload = text ?? '';
      h['content-length'] = String(Buffer.byteLength(payload));
      res.writeHead(status, h);
      res.end(payload);
      outcome.responseBytes = Buffer.byteLength(payload) + headerBytes(h);
    };
    try {
      await this.#pipeline(
        req,
        res,
        ctx,
        { method, path, authority, headers, body, trace, requestId, downstream: protocol },
        outcome,
        reply,
      );
    } finally {
      outcome.requestBytes += body?.received ?? 0;
      // Whatever the client still sends (a request answered before its body was read) is read and dropped.
      body?.discard();
      const durationMs = o.clock.monotonic() - started;
      this.#record(ctx, protocol, outcome, durationMs, {
        startedAt,
        method,
        path,
        authority,
        requestId,
        trace,
        userAgent: (headers['user-agent'] as string | undefined) ?? '-',
      });
    }
  }

  #current(ctx: TunnelContext): TunnelContext {
    const view = this.#o.view();
    if (!view || view === ctx.view) return ctx;
    if (ctx.service.workloadEndpoint) {
      const w = view.workloadFor(ctx.host);
      return w ? { ...ctx, view, service: workloadService(w, ctx.port.port) } : ctx;
    }
    const service = view.serviceFor(ctx.host);
    const port = service?.ports.find((p) => p.port === ctx.port.port);
    return service && port ? { ...ctx, view, service, port } : ctx;
  }

  async #pipeline(
    req: AnyRequest,
    res: AnyResponse,
    ctx: TunnelContext,
    r: {
      method: string;
      path: string;
      authority: string;
      headers: IncomingHttpHeaders;
      body: RequestBody | null;
      trace: TraceContext;
      requestId: string;
      downstream: 'http1' | 'http2';
    },
    outcome: Outcome,
    reply: (
      status: number,
      text: string | null,
      flags: string[],
      extra?: Record<string, string>,
      ops?: HeaderOps,
    ) => void,
  ): Promise<void> {
    const o = this.#o;
    const { view, service, port } = ctx;
    const table = service.tables.get(port.port);
    if (!table) return reply(404, null, ['NR']);
    const flatHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) {
      if (k.startsWith(':') || v === undefined) continue;
      flatHeaders[k] = Array.isArray(v) ? v.join(',') : String(v);
    }
    const waypointRef = { name: view.waypoint.name, namespace: view.waypoint.namespace };
    const target = targetOf(service, port);

    // RequestAuthentication: no token passes, a bad token is a 401.
    const ras = view.authorizer.requestAuthenticationsFor({ waypoint: waypointRef, ...target });
    let claims: Record<string, unknown> | undefined;
    if (ras.length > 0) {
      const jwt = await authenticate(ras, { headers: flatHeaders, path: r.path }, { jwks: o.jwks, clock: o.clock });
      if (jwt.kind === 'invalid')
        return reply(401, jwt.reason, ['UAEX'], { 'www-authenticate': 'Bearer realm="' + r.authority + '"' });
      if (jwt.kind === 'valid') {
        claims = jwt.claims;
        if (jwt.rule.forwardOriginalToken !== true) delete flatHeaders.authorization;
        if (jwt.rule.outputPayloadToHeader)
          flatHeaders[jwt.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(claims)).toString(
            'base64url',
          );
        for (const c of jwt.rule.outputClaimToHeaders ?? [])
          if (claims[c.claim] !== undefined) flatHeaders[c.header.toLowerCase()] = String(claims[c.claim]);
      }
    }

    // AuthorizationPolicy with the waypoint's semantics.
    const decision = view.authorizer.waypoint.authorize({
      waypoint: waypointRef,
      ...target,
      source: { principal: ctx.peerIdentity, ip: ctx.sourceIp },
      http: { method: r.method, host: r.authority, path: r.path, headers: flatHeaders, jwtClaims: claims ?? null },
    });
    if (decision.decision === 'deny') {
      if (decision.httpStatus === 400) return reply(400, 'Bad Request', ['DPE']);
      return reply(403, 'RBAC: access denied', ['-']);
    }

    // Route.
    const routeRequest: RouteRequest = {
      method: r.method,
      path: r.path,
      authority: r.authority,
      headers: flatHeaders,
      port: port.port,
      ...(claims ? { jwtClaims: claims } : {}),
    };
    const d = table.route(routeRequest, { rng: o.rng });
    outcome.route = d.route?.name ?? '-';
    switch (d.action) {
      case 'no-route':
        return reply(404, null, ['NR']);
      case 'reject':
        return reply(400, 'Bad Request', ['DPE']);
      case 'redirect':
        return reply(d.redirect!.status, null, [], { location: d.redirect!.location }, d.responseHeaders);
      case 'direct-response':
        return reply(d.directResponse!.status, d.directResponse!.body, [], {}, d.responseHeaders);
      case 'forward':
        break;
    }

    // CORS: answer preflights here, remember the headers for the actual response.
    const cors = evaluateCors(d.cors, routeRequest);
    if (cors.kind === 'preflight') return reply(cors.status, null, [], cors.headers);
    if (cors.kind === 'forward') outcome.cors = cors.responseHeaders;

    // Faults: delay, then abort (Envoy's fault filter order).
    if (d.fault?.delay?.fired) {
      outcome.flags.push('DI');
      await sleep(d.fault.delay.delayMs);
    }
    if (d.fault?.abort?.fired) {
      if (d.fault.abort.httpStatus !== null) return reply(d.fault.abort.httpStatus, 'fault filter abort', ['FI']);
      return reply(200, null, ['FI'], {
        'content-type': 'application/grpc',
        'grpc-status': String(d.fault.abort.grpcCode ?? 2),
      });
    }
    const backend = d.backend!;
    if (backend.problem) return reply(backend.problem.status, null, ['NR']);

    // Mirrors: fire and forget, never affecting the response.
    for (const m of d.mirrors) if (m.fired) this.#mirror(view, ctx, d, m, r, flatHeaders);

    const upstream = upstreamProtocol(port, r.downstream, backend.trafficPolicy.connectionPool);
    await this.#forward(res, view, d, backend, { ...r, upstream }, flatHeaders, outcome, reply);
  }

  async #forward(
    res: AnyResponse,
    view: WaypointView,
    d: RouteDecision,
    backend: WeightedBackend,
    r: {
      method: string;
      path: string;
      body: RequestBody | null;
      trace: TraceContext;
      requestId: string;
      upstream: 'http1' | 'http2';
    },
    flatHeaders: Record<string, string>,
    outcome: Outcome,
    reply: (
      status: number,
      text: string | null,
      flags: string[],
      extra?: Record<string, string>,
      ops?: HeaderOps,
    ) => void,
  ): Promise<void> {
    const o = this.#o;
    const cluster = o.clusters.get(view, backend);
    outcome.cluster = cluster;
    if (cluster.endpoints.length === 0) return reply(503, 'no healthy upstream', ['UH']);
    const upstreamHeaders = this.#upstreamHeaders(flatHeaders, d, r);
    const hash = requestHash(backend.trafficPolicy.loadBalancer.hash, {
      method: r.method,
      path: r.path,
      headers: flatHeaders,
    });
    const policy = d.retryPolicy;
    const overall = d.timeoutMs > 0 ? AbortSignal.timeout(d.timeoutMs) : null;
    const tried = new Set<string>();
    const upstreamStart = o.clock.monotonic();
    let last: AttemptOutcome | null = null;
    for (let attempt = 0; ; attempt++) {
      if (overall?.aborted) return reply(504, 'upstream request timeout', ['UT']);
      if (attempt > 0) {
        if (!cluster.breaker.tryAcquire('retries')) {
          outcome.flags.push('UO');
          break;
        }
        cluster.breaker.release('retries');
        o.metrics.upstreamRetries.inc({ cluster: cluster.name });
        const wait = retryBackoffMs(attempt, { rng: o.rng, baseMs: policy?.backoffBaseMs ?? 25 });
        await sleep(wait, overall);
        if (overall?.aborted) return reply(504, 'upstream request timeout', ['UT']);
      }
      const endpoint = cluster.pick(hash, policy?.retryIgnorePreviousHosts ? tried : new Set());
      if (!endpoint) return reply(503, 'no healthy upstream', ['UH']);
      if (!cluster.breaker.tryAcquire('requests'))
        return reply(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', ['UO']);
      tried.add(endpoint.address);
      outcome.endpoint = endpoint;
      outcome.attempts = attempt + 1;
      cluster.active.set(endpoint.address, (cluster.active.get(endpoint.address) ?? 0) + 1);
      const perTry = policy?.perTryTimeoutMs ?? 0;
      // Abort machinery only when a timeout can fire (signals and listeners cost per request otherwise).
      const controller = perTry > 0 || overall ? new AbortController() : null;
      let perTryExpired = false;
      const timer =
        perTry > 0
          ? setTimeout(() => {
              perTryExpired = true;
              controller?.abort();
            }, perTry)
          : null;
      const onOverall = () => controller?.abort();
      overall?.addEventListener('abort', onOverall, { once: true });
      let response: UpstreamResponse | null = null;
      try {
        response = await o.upstreams.send(
          endpoint,
          {
            method: r.method,
            path: d.upstream!.path,
            headers: Object.assign(upstreamHeaders, { 'x-envoy-attempt-count': String(attempt + 1) }),
            body: r.body,
            ...(controller ? { signal: controller.signal } : {}),
          },
          r.upstream,
        );
        last = { kind: 'response', status: response.statusCode ?? 502 };
      } catch (error) {
        last = perTryExpired ? { kind: 'per-try-timeout' } : overall?.aborted ? { kind: 'reset' } : classify(error);
      } finally {
        cluster.breaker.release('requests');
        cluster.active.set(endpoint.address, Math.max(0, (cluster.active.get(endpoint.address) ?? 1) - 1));
      }
      if (overall?.aborted && !response) {
        if (timer) clearTimeout(timer);
        return reply(504, 'upstream request timeout', ['UT']);
      }
      // Outlier detection sees every attempt.
      const ejection = cluster.outliers?.record(
        endpoint.address,
        last.kind === 'response' ? { kind: 'response', status: last.status } : { kind: 'local-origin-failure' },
      );
      if (ejection) {
        o.metrics.ejections.inc({ cluster: cluster.name, reason: ejection.reason });
        o.log.warn({ cluster: cluster.name, host: ejection.host, reason: ejection.reason }, 'endpoint ejected');
      }
      const retry = shouldRetry(policy, last, attempt + 1) && !overall?.aborted;
      if (retry && r.body && !r.body.replayable) {
        // Envoy: once the body outgrew the retry buffer the request cannot be sent again; what the try got stands.
        o.metrics.retryOrShadowAbandoned.inc({ cluster: cluster.name, kind: 'retry' });
        o.log.debug({ cluster: cluster.name }, 'retry abandoned: the request body outgrew the buffer');
      } else if (retry) {
        if (timer) clearTimeout(timer);
        overall?.removeEventListener('abort', onOverall);
        // The try's upload is cut off when the next one takes the body over: its response may end in an error.
        response?.body.on('error', () => {});
        response?.body.resume();
        continue;
      }
      if (response) {
        // A retriable answer after the last allowed try: Envoy passes it on and flags the exhausted retries.
        if (policy && attempt >= policy.attempts && attempt > 0 && shouldRetry(policy, last, 1))
          outcome.flags.push('URX');
        outcome.upstreamMs = o.clock.monotonic() - upstreamStart;
        await this.#respond(res, response, d, outcome, controller?.signal ?? NEVER);
        if (timer) clearTimeout(timer);
        overall?.removeEventListener('abort', onOverall);
        return;
      }
      if (timer) clearTimeout(timer);
      overall?.removeEventListener('abort', onOverall);
      break;
    }
    if (attemptsExhausted(policy, outcome.attempts)) outcome.flags.push('URX');
    switch (last?.kind) {
      case 'per-try-timeout':
        return reply(504, 'upstream request timeout', ['UT']);
      case 'connect-failure':
        return reply(
          503,
          'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
          ['UF'],
        );
      default:
        return reply(
          503,
          'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
          ['UC'],
        );
    }
  }

  async #respond(
    res: AnyResponse,
    upstream: UpstreamResponse,
    d: RouteDecision,
    outcome: Outcome,
    signal: AbortSignal,
  ): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const withOps = applyHeaderOps(headers, d.responseHeaders);
    const setCookie = upstream.headers['set-cookie'] as string[] | undefined;
    const out: Record<string, string | string[]> = { ...withOps };
    if (setCookie && !d.responseHeaders.remove.includes('set-cookie')) out['set-cookie'] = setCookie;
    if (outcome.cors) Object.assign(out, outcome.cors);
    outcome.status = upstream.statusCode ?? 502;
    res.writeHead(outcome.status, out);
    outcome.responseBytes += headerBytes(out);
    await new Promise<void>((resolve) => {
      const out = res as ServerResponse;
      const body = upstream.body;
      body.on('data', (chunk: Buffer) => {
        outcome.responseBytes += chunk.length;
        if (!out.write(chunk)) {
          body.pause();
          out.once('drain', () => body.resume());
        }
      });
      body.once('end', () => {
        // gRPC's status travels in HTTP/2 trailers; an HTTP/2 client gets them as they came.
        const trailers = upstream.trailers();
        const grpc = trailers?.['grpc-status'] ?? upstream.headers['grpc-status'];
        if (grpc !== undefined) outcome.grpcStatus = String(grpc);
        if (trailers && 'stream' in res) res.addTrailers(trailers);
        out.end();
        resolve();
      });
      const fail = () => {
        if (upstream.complete()) return;
        outcome.flags.push(signal.aborted ? 'UT' : 'UPE');
        out.destroy();
        resolve();
      };
      body.once('error', fail);
      body.once('aborted', fail);
    });
  }

  #upstreamHeaders(
    flat: Record<string, string>,
    d: RouteDecision,
    r: { trace: TraceContext; requestId: string },
  ): Record<string, string> {
    // Built in place (this runs per request): copy, apply the route's operations, add ours.
    const out: Record<string, string> = {};
    for (const k in flat) if (!HOP_BY_HOP.has(k) && !TRACE_HEADER_SET.has(k)) out[k] = flat[k]!;
    const ops = d.requestHeaders;
    for (const name of ops.remove) delete out[name];
    for (const [name, value] of ops.set) out[name] = value;
    for (const [name, value] of ops.add) out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
    out.host = d.upstream!.authority;
    out['x-forwarded-proto'] = d.upstream!.scheme;
    out['x-request-id'] = r.requestId;
    if (flat.te === 'trailers') out.te = 'trailers'; // gRPC needs it; the HTTP/2 client sends only this value
    const trace = propagationHeaders(r.trace);
    for (const k in trace) out[k] = trace[k]!;
    return out;
  }

  #mirrorBackend(
    view: WaypointView,
    ctx: TunnelContext,
    d: RouteDecision,
    m: RouteDecision['mirrors'][number],
  ): WeightedBackend | null {
    const dr = resolveDestinationRule({
      destinationRules: ctx.service.destinationRules,
      host: m.host,
      proxyNamespace: view.waypoint.namespace,
      rootNamespace: view.waypoint.rootNamespace,
      domainSuffix: view.waypoint.domainSuffix,
    });
    const labels = m.subset ? dr?.subsets.get(m.subset)?.labels : null;
    if (m.subset && !labels) return null; // Envoy: an unknown subset has no endpoints
    return {
      ...d.backend!,
      host: m.host,
      subset: m.subset,
      port: m.port,
      subsetLabels: labels ?? null,
      trafficPolicy: effectiveTrafficPolicy(dr, { ...(m.subset ? { subset: m.subset } : {}), port: m.port }),
    };
  }

  #mirror(
    view: WaypointView,
    ctx: TunnelContext,
    d: RouteDecision,
    m: RouteDecision['mirrors'][number],
    r: { method: string; path: string; body: RequestBody | null; trace: TraceContext; requestId: string },
    flat: Record<string, string>,
  ): void {
    const o = this.#o;
    // A MirrorDecision names host and subset only: its subset labels and traffic policy come from the route's own
    // backends when they name the same, else from the DestinationRules sent with the service.
    const backend =
      d.backends.find((b) => b.host === m.host && b.subset === m.subset) ?? this.#mirrorBackend(view, ctx, d, m);
    if (!backend) return;
    const cluster = o.clusters.get(view, backend);
    const endpoint = cluster.pick(null, new Set());
    if (!endpoint) return;
    const headers = this.#upstreamHeaders(flat, d, r);
    headers.host = `${headers.host}-shadow`;
    // The copy goes once the whole body arrived (as Envoy's shadows did before streaming ones): it is sent from the
    // replay buffer, so a body past the buffer's limit is not mirrored.
    const body = r.body ? r.body.whole() : Promise.resolve(null);
    void body
      .then((whole) => {
        if (r.body && !whole) {
          o.metrics.retryOrShadowAbandoned.inc({ cluster: cluster.name, kind: 'mirror' });
          o.log.debug({ mirror: m.host }, 'mirror abandoned: the request body outgrew the buffer');
          return null;
        }
        return o.upstreams.send(endpoint, {
          method: r.method,
          path: d.upstream!.path,
          headers,
          body: whole ? bufferSource(whole) : null,
          signal: AbortSignal.timeout(30_000),
        });
      })
      .then(
        (res) => res?.body.resume(),
        (error: Error) => o.log.debug({ err: error.message, mirror: m.host }, 'mirror failed'),
      );
  }

  // ------------------------------------------------------------------------------------------------- telemetry

  #labels(
    ctx: TunnelContext,
    endpoint: ClusterEndpoint | null,
    protocol: string,
    status: number,
    flags: string,
    grpcStatus = '',
  ): Labels {
    const b = ctx.baggage;
    const src = parsePrincipal(ctx.peerIdentity);
    const w = endpoint?.workload;
    const dst = w ? parsePrincipal(w.identity) : null;
    const unknown = 'unknown';
    return {
      reporter: 'waypoint',
      source_workload: b.workloadName ?? unknown,
      source_workload_namespace: b.namespace ?? src?.namespace ?? unknown,
      source_principal: ctx.peerIdentity || unknown,
      source_app: b.serviceName ?? unknown,
      source_version: b.serviceVersion ?? unknown,
      source_canonical_service: b.serviceName ?? unknown,
      source_canonical_revision: b.serviceVersion ?? 'latest',
      source_cluster: b.clusterName ?? this.#o.clusterId,
      destination_workload: w ? workloadName(w.name, w.labels) : unknown,
      destination_workload_namespace: w?.namespace ?? dst?.namespace ?? unknown,
      destination_principal: w?.identity ?? unknown,
      destination_app: w?.labels.app ?? unknown,
      destination_version: w?.labels.version ?? unknown,
      // Workload-addressed traffic has no destination service.
      destination_service: ctx.service.workloadEndpoint ? unknown : ctx.service.hostname,
      destination_service_name: ctx.service.workloadEndpoint ? unknown : ctx.service.name,
      destination_service_namespace: ctx.service.workloadEndpoint ? unknown : ctx.service.namespace,
      destination_canonical_service: w?.labels['service.istio.io/canonical-name'] ?? w?.labels.app ?? ctx.service.name,
      destination_canonical_revision: w?.labels['service.istio.io/canonical-revision'] ?? w?.labels.version ?? 'latest',
      destination_cluster: this.#o.clusterId,
      request_protocol: protocol,
      response_code: String(status),
      grpc_response_status: grpcStatus,
      response_flags: flags,
      connection_security_policy: 'mutual_tls',
    };
  }

  #record(
    ctx: TunnelContext,
    protocol: 'http1' | 'http2',
    outcome: Outcome,
    durationMs: number,
    r: {
      startedAt: number;
      method: string;
      path: string;
      authority: string;
      requestId: string;
      trace: TraceContext;
      userAgent: string;
    },
  ): void {
    const o = this.#o;
    const flags = outcome.flags.filter((f) => f !== '-');
    const flagText = flags.length ? [...new Set(flags)].join(',') : '-';
    // The labels derive from the tunnel (source, service), the endpoint, the status and the flags.
    const b = ctx.baggage;
    o.metrics.requests.record(
      `${ctx.peerIdentity}\u0001${b.workloadName}\u0001${b.namespace}\u0001${b.serviceName}\u0001${b.serviceVersion}\u0001${b.clusterName}\u0001${ctx.service.key}\u0001${outcome.endpoint?.workload.uid ?? ''}\u0001${outcome.status}\u0001${flagText}\u0001${outcome.grpcStatus}`,
      () =>
        this.#labels(
          ctx,
          outcome.endpoint,
          outcome.grpcStatus ? 'grpc' : 'http',
          outcome.status,
          flagText,
          outcome.grpcStatus,
        ),
      durationMs,
      outcome.requestBytes,
      outcome.responseBytes,
    );
    if (o.accessLog)
      o.log.info(
        {
          scope: 'access',
          start_time: new Date(r.startedAt).toISOString(),
          method: r.method,
          path: r.path,
          protocol: protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1',
          response_code: outcome.status,
          response_flags: flagText,
          bytes_received: outcome.requestBytes,
          bytes_sent: outcome.responseBytes,
          duration: Math.round(durationMs),
          upstream_service_time: outcome.upstreamMs === null ? null : Math.round(outcome.upstreamMs),
          attempts: outcome.attempts,
          user_agent: r.userAgent,
          request_id: r.requestId,
          authority: r.authority,
          upstream_host: outcome.endpoint?.address ?? null,
          upstream_cluster: outcome.cluster?.name ?? null,
          route_name: outcome.route,
          downstream_peer: ctx.peerIdentity,
          trace_id: r.trace.traceId,
        },
        'access',
      );
    o.exporter?.add({
      ctx: r.trace,
      name: `${ctx.service.hostname}:${ctx.port.port}/*`,
      startMs: r.startedAt,
      endMs: r.startedAt + durationMs,
      attributes: {
        'http.method': r.method,
        'http.url': `http://${r.authority}${r.path}`,
        'http.status_code': outcome.status,
        'istio.canonical_service': ctx.service.name,
        'istio.namespace': ctx.service.namespace,
        upstream_cluster: outcome.cluster?.name ?? '-',
        response_flags: flagText,
        'guid:x-request-id': r.requestId,
        component: 'proxy',
      },
      error: outcome.status >= 500,
    });
  }
}

/** Whether the request has a body, from its head alone (HTTP/2: END_STREAM on HEADERS; HTTP/1.1: the framing). */
function hasBody(req: AnyRequest, headers: IncomingHttpHeaders): boolean {
  const none =
    'stream' in req
      ? req.stream.endAfterHeaders
      : (headers['content-length'] === undefined || headers['content-length'] === '0') &&
        headers['transfer-encoding'] === undefined;
  if (none) req.resume();
  return !none;
}

/**
 * The upstream HTTP version, as Istio configures a waypoint's cluster: HTTP/2 for ports declared grpc/http2 (or
 * `h2UpgradePolicy: UPGRADE`), HTTP/1.1 for ports declared http, and the client's own for undeclared ports (or
 * `useClientProtocol`).
 */
export function upstreamProtocol(
  port: ServicePortView,
  downstream: 'http1' | 'http2',
  pool: { h2UpgradePolicy: string; useClientProtocol: boolean },
): 'http1' | 'http2' {
  if (pool.useClientProtocol) return downstream;
  if (pool.h2UpgradePolicy === 'UPGRADE') return 'http2';
  const declared = (port.protocol || /^([a-z0-9]+)(-|$)/i.exec(port.name ?? '')?.[1] || '').toLowerCase();
  if (declared === 'grpc' || declared === 'grpc-web' || declared === 'http2') return 'http2';
  if (declared === 'http') return 'http1';
  return downstream;
}

/**
 * What authorization matches on: the Service (targetRefs to it apply), or for workload-addressed traffic only the
 * waypoint and the pod's address (policies attached to the Gateway apply).
 */
function targetOf(
  service: ServiceView,
  port: ServicePortView,
): {
  service?: { name: string; namespace: string; kind: 'Service' | 'ServiceEntry'; port: number };
  destination?: { ip: string; port: number };
} {
  const w = service.workloadEndpoint;
  if (w) return { destination: { ip: w.ip, port: port.port } };
  return { service: { name: service.name, namespace: service.namespace, kind: service.kind, port: port.port } };
}

function tcpOnly(labels: Labels): Record<string, string> {
  const { response_code: _c, grpc_response_status: _g, request_protocol: _p, ...rest } = labels;
  return rest;
}

function parsePrincipal(id: string): { namespace: string; serviceAccount: string } | null {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return m ? { namespace: m[1]!, serviceAccount: m[2]! } : null;
}

/** Istio's workload name: the pod's controller when its name shows one (deployment-abc12-xyz34 → deployment). */
function workloadName(pod: string, labels: Readonly<Record<string, string>>): string {
  const hash = labels['pod-template-hash'];
  if (hash && pod.includes(`-${hash}-`)) return pod.slice(0, pod.indexOf(`-${hash}-`));
  return pod;
}

function headerBytes(headers: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers)) n += k.length + String(v).length + 4;
  return n;
}

function attemptsExhausted(policy: RouteDecision['retryPolicy'], attempts: number): boolean {
  return policy !== null && attempts > policy.attempts;
}

function classify(error: unknown): AttemptOutcome {
  const e = error as { code?: string; details?: { status?: number; phase?: string } };
  switch (e.code) {
    case 'ERR_HBONE_CONNECT_FAILED':
    case 'ERR_HBONE_TIMEOUT':
    case 'ERR_HBONE_HANDSHAKE_FAILED':
    case 'ERR_HBONE_UNTRUSTED_PEER':
    case 'ERR_HBONE_IDENTITY_MISMATCH':
    case 'ERR_HBONE_CERTIFICATE':
    case 'ERR_HBONE_CONNECTION_LOST':
    case 'ECONNREFUSED':
      return { kind: 'connect-failure' };
    case 'ERR_HBONE_REFUSED':
      return { kind: 'connect-failure' };
    default:
      return { kind: 'reset' };
  }
}

function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
