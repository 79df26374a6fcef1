// The monitoring port (15014): Prometheus metrics, readiness, version, and istiod's debug views (JSON).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { CertificateAuthority } from '@mesh/ca';
import type { StoredResource } from '@mesh/xds';
import { SERVED_TYPES, type Discovery } from './discovery.js';
import type { Logger } from './log.js';
import type { IstiodMetrics } from './metrics.js';

export interface MonitoringContext {
  discovery: Discovery;
  metrics: IstiodMetrics;
  ca: () => CertificateAuthority | undefined;
  ready: () => boolean;
  version: string;
  debug: boolean;
  log: Logger;
}

const DEBUG_VIEWS: Record<string, string> = {
  syncz: 'each connected proxy with its last push, ACK and NACK per type',
  adsz: 'each xDS connection: node, metadata, protocol, subscriptions',
  configz: 'every config object with the file it came from, and current config issues',
  config_dump: 'what istiod serves one proxy (?proxyID=<connection id | node id | pod.namespace>)',
  registryz: 'services of the ambient index (VIPs, ports, waypoint)',
  endpointz: 'workloads of the ambient index (IPs, identity, services, waypoint)',
  authorizationz: 'policies as ztunnel receives them (istio.security.Authorization)',
  waypointz: 'waypoints with the services and workloads bound to them',
  ca: 'the CA: trust domain, roots, signing certificate',
};

const iso = (ms: number) => new Date(ms).toISOString();

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body, jsonReplacer, 2)}\n` : String(body);
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(text);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function decoded(resource: StoredResource): unknown {
  const type = SERVED_TYPES.find((t) => t.typeUrl === resource.typeUrl);
  if (!type) return { bodyBytes: resource.body.length };
  try {
    return type.toJson(type.decode(resource.body));
  } catch {
    return { bodyBytes: resource.body.length };
  }
}

export function createMonitoringServer(context: MonitoringContext): Server {
  const { discovery, metrics } = context;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://istiod');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'GET only' });
    const path = url.pathname.replace(/\/+$/, '') || '/';
    switch (path) {
      case '/metrics':
        return send(res, 200, await metrics.registry.metrics(), metrics.registry.contentType.split(';')[0]);
      case '/ready':
        return context.ready() ? send(res, 200, 'ready\n', 'text/plain') : send(res, 503, 'not ready\n', 'text/plain');
      case '/healthz':
        return send(res, 200, 'ok\n', 'text/plain');
      case '/version':
        return send(res, 200, { component: 'istiod', version: context.version, node: process.version });
    }
    if (!path.startsWith('/debug')) return send(res, 404, { error: `no such endpoint: ${path}` });
    if (!context.debug) return send(res, 403, { error: 'debug endpoints are off (--debug-endpoints=false)' });
    const view = path.slice('/debug'.length).replace(/^\//, '');
    const xds = discovery.xds;
    switch (view) {
      case '':
        return send(res, 200, Object.fromEntries(Object.entries(DEBUG_VIEWS).map(([k, v]) => [`/debug/${k}`, v])));
      case 'syncz':
        return send(
          res,
          200,
          xds.connections().map((c) => {
            const status = xds.status().find((s) => s.id === c.id);
            return {
              id: c.id,
              proxy: c.nodeId,
              proxy_type: c.principal.type,
              cluster_id: String(status?.metadata.CLUSTER_ID ?? c.metadata.get('clusterid')[0] ?? ''),
              istio_version: String(status?.metadata.ISTIO_VERSION ?? ''),
              identity: c.principal.identity,
              waypoint: c.principal.waypoint,
              connected_at: iso(c.connectedAt),
              types: (status?.types ?? []).map((t) => ({
                type_url: t.typeUrl,
                status: t.status,
                resources: t.resources,
                last_sent: t.lastSent,
                last_ack: t.lastAck,
                last_nack: t.lastNack,
              })),
            };
          }),
        );
      case 'adsz':
        return send(
          res,
          200,
          xds.status().map((s) => {
            const c = xds.connections().find((x) => x.id === s.id);
            return {
              connectionId: s.id,
              node: s.nodeId,
              cluster: s.cluster,
              peer: s.peer,
              protocol: s.protocol,
              connectedAt: iso(s.connectedAt),
              principal: c?.principal,
              metadata: s.metadata,
              watches: Object.fromEntries(
                s.types.map((t) => [t.typeUrl, { wildcard: t.wildcard, names: t.subscribed, resources: t.resources }]),
              ),
            };
          }),
        );
      case 'configz':
        return send(res, 200, {
          generation: discovery.generation,
          lastAppliedAt: discovery.lastAppliedAt ? iso(discovery.lastAppliedAt) : null,
          issues: discovery.store?.issues ?? [],
          objects: (discovery.store?.list() ?? []).map((o) => ({
            kind: o.kind,
            namespace: o.namespace,
            name: o.name,
            origin: o.origin,
            resource: o.resource,
          })),
        });
      case 'config_dump': {
        const id = url.searchParams.get('proxyID') ?? '';
        const c = xds.connections().find((x) => x.id === id || x.nodeId === id || x.nodeId.split('~')[2] === id);
        if (!c) return send(res, 404, { error: `no connected proxy ${JSON.stringify(id)} (see /debug/adsz)` });
        const status = xds.status().find((s) => s.id === c.id);
        return send(res, 200, {
          proxy: c.nodeId,
          principal: c.principal,
          types: (status?.types ?? []).map((t) => {
            const all = xds.resources(t.typeUrl);
            const names = new Set(t.subscribed);
            const visible = all.filter(
              (r) =>
                (t.wildcard || names.has(r.name) || r.aliases.some((a) => names.has(a))) && discovery.visibleTo(c, r),
            );
            return {
              typeUrl: t.typeUrl,
              resources: visible.map((r) => ({
                name: r.name,
                version: r.version,
                aliases: r.aliases,
                resource: decoded(r),
              })),
            };
          }),
        });
      }
      case 'registryz':
        return send(res, 200, discovery.index.services());
      case 'endpointz':
        return send(res, 200, discovery.index.workloads());
      case 'authorizationz':
        return send(
          res,
          200,
          discovery.index.authorizations().map((a) => ({ name: a.name, version: a.version, policy: a.policy })),
        );
      case 'waypointz':
        return send(res, 200, discovery.index.waypoints());
      case 'ca': {
        const ca = context.ca();
        if (!ca) return send(res, 404, { error: 'the CA is not running' });
        const describe = (c: {
          subject: { toString(): string };
          notBefore: number;
          notAfter: number;
          fingerprint256: string;
        }) => ({
          subject: c.subject.toString(),
          notBefore: iso(c.notBefore),
          notAfter: iso(c.notAfter),
          sha256: c.fingerprint256,
        });
        return send(res, 200, {
          trustDomain: ca.trustDomain.name,
          selfSigned: ca.selfSigned,
          signing: describe(ca.signingCertificate),
          roots: ca.roots.map(describe),
        });
      }
      default:
        return send(res, 404, { error: `no such debug view: ${view}`, views: Object.keys(DEBUG_VIEWS) });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      context.log.error({ err: error, url: req.url }, 'monitoring request failed');
      if (!res.headersSent) send(res, 500, { error: (error as Error).message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}
