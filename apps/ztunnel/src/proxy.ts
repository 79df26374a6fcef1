// One proxy instance per local pod (Istio's in-pod model): the pod's HBONE server (inbound, 15008) and SOCKS5
// listener (outbound, 15080) in the pod's network, and the pod's own HBONE connection pool. Decisions come from
// inbound.ts / outbound.ts; this file is the I/O: sockets, relays, telemetry and access logs.
import { lookup } from 'node:dns/promises';
import { isIP, type Server, type Socket } from 'node:net';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { Rng } from '@mesh/core';
import {
  createHboneServer,
  createHbonePool,
  relay,
  responseFlags,
  type HboneDecision,
  type HbonePool,
  type HboneServer,
  type HboneTunnelInfo,
  type TunnelMessage,
} from '@mesh/hbone';
import { ZtunnelError } from './errors.js';
import type { IdentityManager } from './identity.js';
import { authorize, planInbound, type InboundPlan } from './inbound.js';
import { trafficLabels, type TrafficParties, type ZtunnelMetrics } from './metrics.js';
import { planOutbound, type HostPort, type OutboundPlan } from './outbound.js';
import type { PodNetworkContext } from './podnet.js';
import { reply, REPLY, socksHandshake } from './socks5.js';
import type { ServiceView, WorkloadView, ZtunnelState } from './state.js';

export interface ProxyLimits {
  /** Concurrent connections per pod listener (SOCKS5 and HBONE each). */
  maxConnectionsPerPod: number;
  socksHandshakeTimeoutMs: number;
  connectTimeoutMs: number;
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxConnectionsPerPod: 4096,
  socksHandshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  drainTimeoutMs: 5_000,
};

export interface ProxyDeps {
  state: ZtunnelState;
  identities: IdentityManager;
  metrics: ZtunnelMetrics;
  log: Logger;
  access: Logger;
  rng: Rng;
  limits: ProxyLimits;
}

/** One live connection, for config_dump's workloadState and the policy re-check. */
export interface ConnectionRecord {
  direction: 'inbound' | 'outbound';
  src: string;
  originalDst: string;
  actualDst: string;
  protocol: 'HBONE' | 'TCP';
}

interface InboundContext {
  proxy: PodProxy;
  plan: InboundPlan;
  peerIp: string;
  peerIdentity: string;
  /** Set when a policy change closed it. */
  closedByPolicy?: string;
}

// The HBONE server publishes every inbound tunnel's open and close on process-wide channels; each context says which
// proxy it belongs to (outbound tunnels of our own pools are accounted where they are dialed). Subscribed by the
// ztunnel while it runs, not at import time.
const inboundContexts = new WeakMap<HboneTunnelInfo, InboundContext>();
const onTunnelOpen = (message: unknown) => {
  const t = (message as TunnelMessage).tunnel;
  const ctx = inboundContexts.get(t);
  if (ctx) ctx.proxy.onInboundOpen(t, ctx);
};
const onTunnelClose = (message: unknown) => {
  const t = (message as TunnelMessage).tunnel;
  const ctx = inboundContexts.get(t);
  if (ctx) ctx.proxy.onInboundClose(t, ctx);
};

/** Starts inbound telemetry (metrics, access logs) for every PodProxy; returns the unsubscribe. */
export function subscribeInboundTelemetry(): () => void {
  subscribe('mesh:hbone:tunnel:open', onTunnelOpen);
  subscribe('mesh:hbone:tunnel:close', onTunnelClose);
  return () => {
    unsubscribe('mesh:hbone:tunnel:open', onTunnelOpen);
    unsubscribe('mesh:hbone:tunnel:close', onTunnelClose);
  };
}

const hostPort = (h: HostPort) => (isIP(h.host) === 6 ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);

export class PodProxy {
  readonly uid: string;
  readonly ip: string;
  workload: WorkloadView;
  readonly #deps: ProxyDeps;
  readonly #net: PodNetworkContext;
  readonly #hbone: HboneServer;
  readonly #pool: HbonePool;
  readonly #listeners: Server[] = [];
  readonly #live = new Set<{ record: ConnectionRecord; socket: Socket }>();
  readonly #inbound = new Map<HboneTunnelInfo, ConnectionRecord>();
  #closing = false;

  constructor(deps: ProxyDeps, workload: WorkloadView, net: PodNetworkContext) {
    this.#deps = deps;
    this.workload = workload;
    this.uid = workload.uid;
    this.ip = net.pod.ip;
    this.#net = net;
    const identity = () => this.workload.identity;
    this.#hbone = createHboneServer({
      certificate: () => deps.identities.get(identity()),
      bundles: deps.identities,
      handler: (request) => this.#handleInbound(request),
      maxConnections: deps.limits.maxConnectionsPerPod,
      upstreamConnectTimeoutMs: deps.limits.connectTimeoutMs,
      drainTimeoutMs: deps.limits.drainTimeoutMs,
    });
    this.#pool = createHbonePool({
      certificate: () => deps.identities.get(identity()),
      bundles: deps.identities,
      connectTimeoutMs: deps.limits.connectTimeoutMs,
      drainTimeoutMs: deps.limits.drainTimeoutMs,
    });
  }

  async start(): Promise<void> {
    const limits = this.#deps.limits;
    const hbone = await this.#net.listen('hbone', (socket) => this.#hbone.handleConnection(socket), {
      maxConnections: limits.maxConnectionsPerPod,
    });
    this.#listeners.push(hbone);
    try {
      const socks = await this.#net.listen('socks5', (socket) => void this.#handleSocks(socket), {
        maxConnections: limits.maxConnectionsPerPod,
      });
      this.#listeners.push(socks);
    } catch (error) {
      hbone.close();
      throw error;
    }
  }

  connections(): { inbound: ConnectionRecord[]; outbound: ConnectionRecord[] } {
    return { inbound: [...this.#inbound.values()], outbound: [...this.#live].map((o) => o.record) };
  }

  /** Re-authorizes live inbound connections after a policy or workload change; closes those now denied. */
  recheck(): number {
    let closed = 0;
    const state = this.#deps.state;
    for (const t of this.#hbone.tunnels()) {
      const ctx = inboundContexts.get(t.info);
      if (!ctx || ctx.plan.kind !== 'forward' || ctx.closedByPolicy) continue;
      const decision = authorize(state, this.workload, ctx.peerIdentity, ctx.peerIp, ctx.plan.target);
      if (decision.decision === 'allow') continue;
      ctx.closedByPolicy = decision.reason;
      closed++;
      this.#deps.metrics.policyClosed.inc();
      this.#deps.log.info(
        {
          pod: this.uid,
          src: ctx.peerIdentity,
          dst: hostPort(ctx.plan.target),
          policy: decision.policy,
          reason: decision.reason,
        },
        'connection closed due to policy change',
      );
      t.reset();
    }
    return closed;
  }

  // ------------------------------------------------------------------------------------------------ inbound

  #handleInbound(request: Parameters<Parameters<typeof createHboneServer>[0]['handler']>[0]): HboneDecision {
    const peerIp = request.connection.remoteAddress.replace(/^::ffff:/, '');
    const plan = planInbound(this.#deps.state, {
      pod: this.workload,
      authority: { host: request.authority.host, port: request.authority.port },
      peerIdentity: request.peerIdentity,
      peerIp,
      forwardedHost: request.request.forwardedHost,
    });
    inboundContexts.set(request.tunnel, { proxy: this, plan, peerIp, peerIdentity: request.peerIdentity });
    if (plan.kind === 'refuse') {
      if (plan.status === 401)
        this.#deps.log.debug({ pod: this.uid, src: request.peerIdentity, reason: plan.reason }, 'authorization denied');
      return { action: 'refuse', status: plan.status, reason: plan.reason };
    }
    // On the loopback network the app sees the source pod's IP, as with ztunnel's original-source spoofing.
    const bindSource = peerIp.startsWith('127.') && plan.target.host.startsWith('127.');
    return {
      action: 'forward',
      target: plan.target,
      connectTimeoutMs: this.#deps.limits.connectTimeoutMs,
      ...(bindSource ? { localAddress: peerIp } : {}),
    };
  }

  #inboundParties(ctx: InboundContext, flags: string): TrafficParties {
    return {
      reporter: 'destination',
      source: ctx.plan.source,
      sourcePrincipal: ctx.peerIdentity,
      destination: this.workload,
      destinationPrincipal: this.workload.identity,
      service: ctx.plan.service,
      responseFlags: flags,
      mtls: true,
    };
  }

  onInboundOpen(t: HboneTunnelInfo, ctx: InboundContext): void {
    const m = this.#deps.metrics;
    m.opened.inc(trafficLabels(this.#inboundParties(ctx, '-')));
    m.socketsOpen.inc({ reporter: 'destination' });
    this.#inbound.set(t, {
      direction: 'inbound',
      src: `${ctx.peerIp}:${t.connection?.remotePort ?? 0}`,
      originalDst: t.authority,
      actualDst: t.target ?? t.authority,
      protocol: 'HBONE',
    });
  }

  onInboundClose(t: HboneTunnelInfo, ctx: InboundContext): void {
    const m = this.#deps.metrics;
    const opened = this.#inbound.delete(t);
    const flags = ctx.plan.kind === 'refuse' ? ctx.plan.flag : ctx.closedByPolicy ? 'DENY' : responseFlags(t);
    const labels = trafficLabels(this.#inboundParties(ctx, flags));
    if (opened) {
      m.socketsOpen.dec({ reporter: 'destination' });
      m.closed.inc(labels);
      m.received.inc(labels, t.bytesReceived);
      m.sent.inc(labels, t.bytesSent);
    }
    if (flags !== '-') m.failed.inc(labels);
    const error =
      ctx.plan.kind === 'refuse'
        ? ctx.plan.reason
        : ctx.closedByPolicy
          ? `connection closed due to policy change: ${ctx.closedByPolicy}`
          : t.outcome === 'error' || t.outcome === 'reset'
            ? (t.error?.message ?? t.outcome)
            : undefined;
    const src = ctx.plan.source?.workload;
    const fields = {
      'src.addr': `${ctx.peerIp}:${t.connection?.remotePort ?? 0}`,
      ...(src ? { 'src.workload': src.workloadName || src.name, 'src.namespace': src.namespace } : {}),
      'src.identity': ctx.peerIdentity,
      'dst.addr': t.target ?? t.authority,
      'dst.hbone_addr': t.authority,
      ...(ctx.plan.service ? { 'dst.service': ctx.plan.service.service.hostname } : {}),
      'dst.workload': this.workload.workload.workloadName || this.workload.workload.name,
      'dst.namespace': this.workload.workload.namespace,
      'dst.identity': this.workload.identity,
      direction: 'inbound',
      bytes_sent: t.bytesSent,
      bytes_recv: t.bytesReceived,
      duration: `${Math.round((t.closedAt ?? performance.now()) - t.startedAt)}ms`,
      ...(error ? { error } : {}),
    };
    if (error) this.#deps.access.error(fields, 'connection complete');
    else this.#deps.access.info(fields, 'connection complete');
  }

  // ------------------------------------------------------------------------------------------------ outbound

  async #handleSocks(socket: Socket): Promise<void> {
    socket.on('error', () => {}); // errors surface through the handshake or the relay
    if (this.#closing) return void socket.destroy();
    let target;
    let rest: Buffer;
    try {
      ({ target, rest } = await socksHandshake(socket, { timeoutMs: this.#deps.limits.socksHandshakeTimeoutMs }));
    } catch (error) {
      this.#deps.log.debug({ pod: this.uid, err: error }, 'SOCKS5 handshake failed');
      return;
    }
    let host = target.host;
    if (target.kind === 'domain') {
      const resolved = await this.#resolve(target.host);
      if (!resolved) {
        socket.end(reply(REPLY.hostUnreachable));
        this.#failEarly(
          socket,
          `${target.host}:${target.port}`,
          new ZtunnelError('ERR_ZTUNNEL_DNS', `cannot resolve ${target.host}`),
        );
        return;
      }
      host = resolved;
    }
    await this.#outbound(socket, { host, port: target.port }, rest);
  }

  async #resolve(name: string): Promise<string | undefined> {
    const svc = this.#deps.state.serviceByHostname(name.replace(/\.$/, ''));
    if (svc?.vips[0]) return svc.vips[0];
    try {
      return (await lookup(name, { family: 4 })).address;
    } catch {
      return undefined;
    }
  }

  #failEarly(socket: Socket, dst: string, error: Error & { code?: string }): void {
    this.#deps.access.warn(
      {
        'src.addr': `${socket.remoteAddress}:${socket.remotePort}`,
        'dst.addr': dst,
        direction: 'outbound',
        error: `${error.code ?? ''}${error.code ? ': ' : ''}${error.message}`,
      },
      'connection failed',
    );
  }

  async #outbound(socket: Socket, destination: HostPort, early: Buffer): Promise<void> {
    const deps = this.#deps;
    const started = performance.now();
    const plan: OutboundPlan = planOutbound(deps.state, { source: this.workload, destination }, deps.rng);
    const base = {
      reporter: 'source' as const,
      source: this.workload,
      sourcePrincipal: this.workload.identity,
    };
    const srcAddr = `${socket.remoteAddress}:${socket.remotePort}`;
    if (plan.kind === 'error') {
      socket.end(reply(plan.code === 'ERR_ZTUNNEL_SELF_CALL' ? REPLY.notAllowed : REPLY.hostUnreachable));
      const labels = trafficLabels({
        ...base,
        destination: undefined,
        destinationPrincipal: undefined,
        service: plan.service,
        responseFlags: 'CONNECT',
        mtls: false,
      });
      deps.metrics.failed.inc(labels);
      if (plan.code === 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE') {
        deps.metrics.waypointUnavailable.inc({ waypoint: plan.waypoint ?? 'unknown' });
        deps.log.error(
          { pod: this.uid, code: plan.code, dst: hostPort(destination), waypoint: plan.waypoint },
          `${plan.code}: ${plan.message}; refusing the connection instead of bypassing the waypoint`,
        );
      }
      this.#failEarly(socket, hostPort(destination), new ZtunnelError(plan.code, plan.message));
      return;
    }
    const record: ConnectionRecord = {
      direction: 'outbound',
      src: srcAddr,
      originalDst: hostPort(destination),
      actualDst: plan.kind === 'hbone' ? hostPort(plan.via) : hostPort(plan.target),
      protocol: plan.kind === 'hbone' ? 'HBONE' : 'TCP',
    };
    const entry = { record, socket };
    let upstream;
    let dstPrincipal: string | undefined;
    let bytesSent = 0;
    let bytesRecv = 0;
    let error: Error | undefined;
    let flags = '-';
    let opened = false;
    const parties = (): TrafficParties => ({
      ...base,
      destination: plan.workload,
      destinationPrincipal: dstPrincipal,
      service: plan.service,
      responseFlags: flags,
      mtls: plan.kind === 'hbone',
    });
    this.#live.add(entry);
    try {
      if (plan.kind === 'hbone') {
        const tunnel = await this.#pool.dial({
          target: plan.authority,
          via: plan.via,
          expectedIdentities: plan.expectedIdentities,
          source: {
            identity: this.workload.identity,
            ...(this.#net.sourceAddress ? { address: this.#net.sourceAddress } : {}),
          },
          forwarded: {
            for: srcAddr,
            ...(plan.service ? { host: plan.service.service.hostname } : {}),
          },
          baggage: baggageOf(this.workload),
        });
        upstream = tunnel;
        dstPrincipal = tunnel.info.connection?.peerIdentity;
      } else {
        upstream = await this.#net.dial(plan.target, { timeoutMs: deps.limits.connectTimeoutMs });
      }
      opened = true;
      deps.metrics.opened.inc(trafficLabels(parties()));
      deps.metrics.socketsOpen.inc({ reporter: 'source' });
      socket.write(reply(REPLY.succeeded));
      if (early.length > 0) upstream.write(early);
      socket.resume();
      const result = await relay(socket, upstream);
      bytesSent = result.aToB + early.length;
      bytesRecv = result.bToA;
      error = result.error;
      if (plan.kind === 'hbone' && 'info' in upstream) {
        bytesSent = upstream.info.bytesSent;
        bytesRecv = upstream.info.bytesReceived;
      }
      if (error) flags = responseFlags({ error });
    } catch (e) {
      error = e as Error;
      flags = responseFlags({ error });
      if (flags === '-') flags = 'CONNECT';
      if (!socket.destroyed)
        socket.end(
          reply(
            (error as { details?: { status?: number } }).details?.status === 401
              ? REPLY.notAllowed
              : REPLY.connectionRefused,
          ),
        );
    } finally {
      this.#live.delete(entry);
    }
    const labels = trafficLabels(parties());
    if (opened) {
      deps.metrics.socketsOpen.dec({ reporter: 'source' });
      deps.metrics.closed.inc(labels);
      deps.metrics.sent.inc(labels, bytesSent);
      deps.metrics.received.inc(labels, bytesRecv);
    }
    if (flags !== '-') deps.metrics.failed.inc(labels);
    const dst = plan.workload?.workload;
    const fields = {
      'src.addr': srcAddr,
      'src.workload': this.workload.workload.workloadName || this.workload.workload.name,
      'src.namespace': this.workload.workload.namespace,
      ...(plan.kind === 'hbone' ? { 'src.identity': this.workload.identity } : {}),
      'dst.addr': record.actualDst,
      ...(plan.kind === 'hbone' ? { 'dst.hbone_addr': hostPort(plan.authority) } : {}),
      ...(plan.service ? { 'dst.service': plan.service.service.hostname } : {}),
      ...(dst ? { 'dst.workload': dst.workloadName || dst.name, 'dst.namespace': dst.namespace } : {}),
      ...(dstPrincipal ? { 'dst.identity': dstPrincipal } : {}),
      ...(plan.kind === 'hbone' && plan.waypoint ? { 'dst.waypoint': plan.waypoint } : {}),
      direction: 'outbound',
      bytes_sent: bytesSent,
      bytes_recv: bytesRecv,
      duration: `${Math.round(performance.now() - started)}ms`,
      ...(error ? { error: `${(error as { code?: string }).code ?? ''} ${error.message}`.trim() } : {}),
    };
    if (error) deps.access.error(fields, 'connection complete');
    else deps.access.info(fields, 'connection complete');
  }

  /** Drain: stop accepting, let connections finish until the deadline, then cut them. */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const timeoutMs = options.timeoutMs ?? this.#deps.limits.drainTimeoutMs;
    for (const l of this.#listeners) l.close();
    const deadline = setTimeout(() => {
      for (const o of this.#live) o.socket.destroy();
    }, timeoutMs);
    deadline.unref();
    await Promise.allSettled([this.#hbone.close({ timeoutMs }), this.#pool.close()]);
    const end = performance.now() + timeoutMs;
    while (this.#live.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    for (const o of this.#live) o.socket.destroy();
    clearTimeout(deadline);
  }
}

function baggageOf(w: WorkloadView) {
  const x = w.workload;
  return {
    clusterName: x.clusterId,
    namespace: x.namespace,
    workloadName: x.workloadName || x.name,
    serviceName: x.canonicalName,
    serviceVersion: x.canonicalRevision,
  };
}

export type { ServiceView };
