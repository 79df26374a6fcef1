// The node's HTTP ports, as ztunnel's: admin (15000: /config_dump, /logging, /quitquitquit), Prometheus (15020:
// /metrics, /stats/prometheus) and readiness (15021: /healthz/ready). Each is its own server so a slow scrape never
// delays a readiness probe.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ZtunnelError } from './errors.js';

export interface AdminHandlers {
  configDump(): unknown;
  /** GET: current levels; POST ?level=<lvl> or ?level=scope:lvl,... ; ?reset. */
  logging(params: URLSearchParams, method: string): { status: number; body: unknown };
  quit(): void;
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): { ready: boolean; pending: string[] };
}

export interface AdminServers {
  readonly ports: { admin: number; metrics: number; readiness: number };
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function listen(
  host: string,
  port: number,
  name: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Server> {
  const server = createServer((req, res) => {
    try {
      handler(req, res);
    } catch (error) {
      send(res, 500, `${(error as Error).message}\n`, 'text/plain');
    }
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ZtunnelError('ERR_ZTUNNEL_LISTEN_FAILED', `${name} port ${host}:${port}: ${error.code ?? error.message}`, {
          cause: error,
        }),
      ),
    );
    server.listen({ host, port }, () => resolve(server));
  });
}

export async function startAdmin(
  host: string,
  ports: { admin: number; metrics: number; readiness: number },
  h: AdminHandlers,
): Promise<AdminServers> {
  const servers: Server[] = [];
  const portOf = (s: Server) => (s.address() as { port: number }).port;
  try {
    servers.push(
      await listen(host, ports.admin, 'admin', (req, res) => {
        const url = new URL(req.url ?? '/', 'http://admin');
        if (url.pathname === '/config_dump') return send(res, 200, h.configDump());
        if (url.pathname === '/logging') {
          const r = h.logging(url.searchParams, req.method ?? 'GET');
          return send(res, r.status, r.body);
        }
        if (url.pathname === '/quitquitquit') {
          if (req.method !== 'POST') return send(res, 405, 'POST only\n', 'text/plain');
          send(res, 200, 'OK\n', 'text/plain');
          return h.quit();
        }
        if (url.pathname === '/healthz/ready') {
          const r = h.ready();
          return send(
            res,
            r.ready ? 200 : 503,
            r.ready ? 'ready\n' : `not ready, pending: ${r.pending.join(', ')}\n`,
            'text/plain',
          );
        }
        if (url.pathname === '/')
          return send(
            res,
            200,
            'ztunnel admin\n  GET  /config_dump\n  GET  /logging   POST /logging?level=<level>|<scope>:<level>,...  POST /logging?reset\n  POST /quitquitquit\n',
            'text/plain',
          );
        send(res, 404, 'not found\n', 'text/plain');
      }),
    );
    servers.push(
      await listen(host, ports.metrics, 'metrics', (req, res) => {
        const path = new URL(req.url ?? '/', 'http://m').pathname;
        if (path !== '/metrics' && path !== '/stats/prometheus') return send(res, 404, 'not found\n', 'text/plain');
        h.metrics().then(
          (m) => send(res, 200, m.body, m.contentType),
          (error: Error) => send(res, 500, `${error.message}\n`, 'text/plain'),
        );
      }),
    );
    servers.push(
      await listen(host, ports.readiness, 'readiness', (req, res) => {
        if (new URL(req.url ?? '/', 'http://r').pathname !== '/healthz/ready')
          return send(res, 404, 'not found\n', 'text/plain');
        const r = h.ready();
        // Istio's answers: 200 "ready", 500 "not ready, pending: <tasks>".
        send(
          res,
          r.ready ? 200 : 500,
          r.ready ? 'ready\n' : `not ready, pending: ${r.pending.join(', ')}\n`,
          'text/plain',
        );
      }),
    );
  } catch (error) {
    for (const s of servers) s.close();
    throw error;
  }
  return {
    ports: { admin: portOf(servers[0]!), metrics: portOf(servers[1]!), readiness: portOf(servers[2]!) },
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
