// Upstream connections: HTTP/1.1 over HBONE tunnels to each destination pod's 15008, with the waypoint's identity.
// One keep-alive http.Agent per (pod address, identity): its sockets are tunnels (CONNECT streams multiplexed on the
// pool's mTLS connections), so idle upstream connections are reused across requests.
import { Agent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HbonePool, HboneTunnel } from '@mesh/hbone';

export interface UpstreamTarget {
  /** Pod IP. */
  readonly ip: string;
  /** Target (container) port. */
  readonly port: number;
  /** SPIFFE ID the pod's HBONE server must present. */
  readonly identity: string;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | null;
  signal: AbortSignal;
  /** Source identity and client address for the tunnel's `forwarded`/baggage (what ztunnel would see). */
  forwardedFor?: string;
  /** Hostname of the destination service, for the tunnel's `forwarded: host=`. */
  serviceHost?: string;
}

/**
 * Node's http client and Agent call socket methods an HTTP/2 stream does not have; on a tunnel they mean nothing
 * (TCP options belong to the pool's connection), so they become no-ops.
 */
export function socketLike(tunnel: Duplex): Duplex {
  const t = tunnel as Duplex & Record<string | symbol, unknown>;
  if (t[PATCHED]) return tunnel;
  t[PATCHED] = true;
  for (const m of ['setKeepAlive', 'setNoDelay', 'ref', 'unref'])
    if (typeof t[m] !== 'function') t[m] = () => tunnel;
  // Node's HTTP code writes its head as a latin1 string, which an HTTP/2 stream's writev garbles when it is corked
  // together with other chunks (seen on Node 20): hand the stream bytes only.
  const write = tunnel.write.bind(tunnel) as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  t.write = (chunk: unknown, encoding?: unknown, cb?: unknown) =>
    typeof chunk === 'string'
      ? write(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'), typeof encoding === 'function' ? encoding : cb)
      : write(chunk, encoding, cb);
  return tunnel;
}

const PATCHED = Symbol('socketLike');

export class Upstreams {
  readonly #pool: HbonePool;
  readonly #hbonePort: number;
  readonly #identity: () => string;
  readonly #agents = new Map<string, Agent>();

  constructor(options: { pool: HbonePool; hbonePort: number; identity: () => string }) {
    this.#pool = options.pool;
    this.#hbonePort = options.hbonePort;
    this.#identity = options.identity;
  }

  agent(target: UpstreamTarget, maxSockets?: number): Agent {
    const key = `${target.ip}:${target.port}|${target.identity}`;
    let agent = this.#agents.get(key);
    if (agent) return agent;
    agent = new Agent({
      keepAlive: true,
      ...(maxSockets && maxSockets < 100_000 ? { maxSockets } : {}),
    });
    const pool = this.#pool;
    const via = `${target.ip.includes(':') ? `[${target.ip}]` : target.ip}:${this.#hbonePort}`;
    const identity = this.#identity;
    // The Agent accepts a connection handed over later through the callback (createConnection may return nothing).
    (agent as unknown as { createConnection: unknown }).createConnection = (
      _options: unknown,
      callback: (error: Error | null, socket?: Duplex) => void,
    ) => {
      pool
        .dial({
          target: `${via.slice(0, via.lastIndexOf(':'))}:${target.port}`,
          via,
          expectedIdentities: [target.identity],
          source: { identity: identity() },
        })
        .then(
          (tunnel: HboneTunnel) => callback(null, socketLike(tunnel)),
          (error: Error) => callback(error),
        );
      return undefined;
    };
    this.#agents.set(key, agent);
    return agent;
  }

  /** Sends one request; resolves with the response head (the body is still to be read). */
  send(target: UpstreamTarget, req: UpstreamRequest, maxSockets?: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const r = httpRequest({
        agent: this.agent(target, maxSockets),
        method: req.method,
        path: req.path,
        headers: req.headers,
        signal: req.signal,
        // The agent's sockets are tunnels: host/port only label the request.
        host: target.ip,
        port: target.port,
        setHost: false,
      });
      r.once('response', resolve);
      r.once('error', reject);
      r.end(req.body ?? undefined);
    });
  }

  /** Drops pooled connections to endpoints that are gone. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, agent] of this.#agents)
      if (!keys.has(key)) {
        agent.destroy();
        this.#agents.delete(key);
      }
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
