// The admin port (Envoy's 15000 role): readiness, Prometheus metrics, a config dump of what the data path runs with
// (services and their route tables, clusters with endpoint health and ejections, policies), and the log level.
import { createServer, type Server } from 'node:http';
import type { Clusters } from './cluster.js';
import type { Logger } from './log.js';
import type { WaypointView } from './model.js';
import type { WaypointMetrics } from './telemetry.js';

export interface AdminOptions {
  log: Logger;
  metrics: WaypointMetrics;
  view: () => WaypointView | undefined;
  clusters: Clusters;
  ready: () => boolean;
  source: string;
}

export function configDump(view: WaypointView | undefined, clusters: Clusters, source: string) {
  return {
    source,
    version: view?.version ?? 0,
    waypoint: view?.waypoint ?? null,
    services: (view?.services ?? []).map((s) => ({
      hostname: s.hostname,
      namespace: s.namespace,
      name: s.name,
      kind: s.kind,
      vips: s.vips,
      ports: s.ports,
      routes: [...s.tables].map(([port, table]) => ({
        port,
        source: table.source,
        routes: table.routes,
        diagnostics: table.diagnostics,
      })),
    })),
    clusters: clusters.all().map((c) => c.snapshot()),
    policies: view?.policies ?? [],
  };
}

export function startAdmin(options: AdminOptions): Server {
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: unknown, type = 'application/json') => {
      const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(status, { 'content-type': type });
      res.end(text);
    };
    switch (url.pathname) {
      case '/ready':
      case '/healthz/ready':
        return options.ready() ? send(200, 'LIVE\n', 'text/plain') : send(503, 'PRE_INITIALIZING\n', 'text/plain');
      case '/metrics':
      case '/stats/prometheus':
        void options.metrics.render().then(
          (text) => send(200, text, options.metrics.registry.contentType),
          (error: Error) => send(500, error.message, 'text/plain'),
        );
        return;
      case '/config_dump':
        return send(200, configDump(options.view(), options.clusters, options.source));
      case '/clusters':
        return send(
          200,
          options.clusters.all().map((c) => c.snapshot()),
        );
      case '/logging': {
        const level = url.searchParams.get('level');
        if (level && req.method === 'POST') {
          if (!levels.includes(level)) return send(400, { error: `level must be one of ${levels.join(', ')}` });
          options.log.level = level;
          options.log.info({ level }, 'log level changed');
        }
        return send(200, { level: options.log.level });
      }
      default:
        return send(404, {
          error: 'not found',
          endpoints: ['/ready', '/metrics', '/stats/prometheus', '/config_dump', '/clusters', '/logging'],
        });
    }
  });
}
