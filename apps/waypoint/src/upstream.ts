// Upstream connections: HTTP/1.1 over HBONE tunnels to each destination pod's 15008, with the waypoint's identity.
// Kept-alive tunnels (CONNECT streams multiplexed on the HBONE pool's mTLS connections) are reused per (pod address,
// identity) across requests.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import {
  connect as http2Connect,
  constants as h2,
  type ClientHttp2Session,
  type IncomingHttpHeaders as H2Headers,
} from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { HbonePool } from '@mesh/hbone';
import type { BodySource } from './body.js';

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
  /** Streamed to the upstream; each attempt opens it anew (null: no body). */
  body: BodySource | null;
  signal?: AbortSignal;
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
  for (const m of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) if (typeof t[m] !== 'function') t[m] = () => tunnel;
  return tunnel;
}

const PATCHED = Symbol('socketLike');

/**
 * Keep-alive HTTP/1.1 over tunnels. Node's http.Agent does not count a connection it is still creating
 * asynchronously, so under concurrency it dials far more tunnels than maxSockets and rarely reuses them; this pool
 * hands out idle tunnels itself and takes them back on the http client's 'free' signal.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class TunnelHttpPool {
  readonly #idle = new Map<string, Duplex[]>();
  readonly #open = new Map<string, number>();
  readonly #idleSince = new WeakMap<Duplex, number>();
  readonly #idleTimeoutMs: number;
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;

  /**
   * @param options.idleTimeoutMs close a tunnel idle this long: below the usual server keep-alive (Node's is 5 s), so
   * that we close first and rarely send on a connection the server is closing.
   */
  constructor(options: { idleTimeoutMs?: number } = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4_000;
  }

  /** Tunnels per key, idle or busy. */
  open(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  async request(
    key: string,
    dial: () => Promise<Duplex>,
    options: {
      method: string;
      path: string;
      headers: OutgoingHttpHeaders;
      body: BodySource | null;
      signal?: AbortSignal;
      timeoutMs?: number;
    },
  ): Promise<IncomingMessage> {
    const reused = this.#takeIdle(key);
    if (!reused) return this.#send(key, await this.#fresh(key, dial), options);
    try {
      return await this.#send(key, reused, options);
    } catch (error) {
      // A kept-alive connection the server closed as we reused it fails before any response: an idempotent request
      // goes again once on a new tunnel (what HTTP clients do; nothing was processed).
      if (
        !IDEMPOTENT.has(options.method) ||
        options.signal?.aborted ||
        (options.body !== null && !options.body.replayable) ||
        (error as { afterResponse?: boolean }).afterResponse
      )
        throw error;
      return this.#send(key, await this.#fresh(key, dial), options);
    }
  }

  #takeIdle(key: string): Duplex | undefined {
    const idle = this.#idle.get(key);
    while (idle?.length) {
      const s = idle.pop()!;
      if (!s.destroyed && s.writable) return s;
    }
    return undefined;
  }

  async #fresh(key: string, dial: () => Promise<Duplex>): Promise<Duplex> {
    const s = socketLike(await dial());
    this.#open.set(key, this.open(key) + 1);
    // An idle tunnel has no request listening: its reset (the peer restarting, a drain) must not be an unhandled
    // 'error' event; a request in flight sees the error through its own listener.
    s.on('error', () => {});
    s.once('close', () => {
      this.#open.set(key, Math.max(0, this.open(key) - 1));
      const list = this.#idle.get(key);
      const i = list?.indexOf(s) ?? -1;
      if (i >= 0) list!.splice(i, 1);
    });
    return s;
  }

  #send(
    key: string,
    s: Duplex,
    options: {
      method: string;
      path: string;
      headers: OutgoingHttpHeaders;
      body: BodySource | null;
      signal?: AbortSignal;
      timeoutMs?: number;
    },
  ): Promise<IncomingMessage> {
    const body = options.body?.open() ?? null;
    if (options.body && !body) return Promise.reject(new Error('the request body can no longer be replayed'));
    return new Promise((resolve, reject) => {
      const r = httpRequest({
        createConnection: () => s as never,
        method: options.method,
        path: options.path,
        headers: { ...options.headers, connection: 'keep-alive' },
        setHost: false,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      });
      // The http client emits 'free' on the socket once a kept-alive response is complete.
      s.once('free', () => {
        if (this.#closed || s.destroyed) return;
        s.removeAllListeners('timeout');
        let list = this.#idle.get(key);
        if (!list) this.#idle.set(key, (list = []));
        list.push(s);
        this.#idleSince.set(s, performance.now());
        // One sweep a second for the whole pool (a timer per freed tunnel would cost per request).
        this.#sweeper ??= setInterval(() => this.#sweep(), 1_000).unref();
      });
      let responded = false;
      r.once('response', (res) => {
        responded = true;
        resolve(res);
      });
      r.once('error', (error) => {
        s.destroy();
        if (responded) Object.assign(error, { afterResponse: true });
        reject(error);
      });
      r.once('timeout', () => r.destroy(new Error('request timeout')));
      if (body) sendBody(body, r, () => r.destroy(new Error('the request body was cut off')));
      else r.end();
    });
  }

  #sweep(): void {
    const now = performance.now();
    for (const list of this.#idle.values())
      for (const s of [...list])
        if (now - (this.#idleSince.get(s) ?? now) >= this.#idleTimeoutMs) {
          list.splice(list.indexOf(s), 1);
          s.end();
        }
  }

  /** Closes idle tunnels of keys not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, list] of this.#idle)
      if (!keep.has(key)) {
        for (const s of list) s.end();
        this.#idle.delete(key);
      }
  }

  close(): void {
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const list of this.#idle.values()) for (const s of list) s.destroy();
    this.#idle.clear();
  }
}

/**
 * Streams a body into an upstream request with backpressure. A body that stops before its end (the client went
 * away, a retry took it over) cancels the request: a half-sent request must not look complete.
 */
function sendBody(body: Readable, to: NodeJS.WritableStream, cancel: () => void): void {
  body.once('close', () => {
    if (!body.readableEnded) cancel();
  });
  body.on('error', () => {});
  body.pipe(to);
}

/** An upstream response head and its body, whichever HTTP version carried it. */
export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable;
  /** HTTP/2 trailers (gRPC's status), once the body ended; null when there were none. */
  trailers(): Record<string, string> | null;
  /** Whether the whole body arrived. */
  complete(): boolean;
}

function fromHttp1(m: IncomingMessage): UpstreamResponse {
  return {
    statusCode: m.statusCode ?? 502,
    headers: m.headers,
    body: m,
    trailers: () => null,
    complete: () => m.complete,
  };
}

// Headers HTTP/2 forbids (RFC 9113 §8.2.2); `te` may only be "trailers" and is added back for gRPC by the caller.
const H2_FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'te',
]);

export class Upstreams {
  readonly #pool: HbonePool;
  readonly #hbonePort: number;
  readonly #identity: () => string;
  readonly #http = new TunnelHttpPool();
  readonly #sessions = new Map<string, ClientHttp2Session>();

  readonly #sourceAddress: string | undefined;

  /** `sourceAddress`: the local address tunnels leave from (our pod IP), so ztunnels see which workload we are. */
  constructor(options: { pool: HbonePool; hbonePort: number; identity: () => string; sourceAddress?: string }) {
    this.#pool = options.pool;
    this.#hbonePort = options.hbonePort;
    this.#identity = options.identity;
    this.#sourceAddress = options.sourceAddress;
  }

  /** Sends one request over HTTP/1.1 or HTTP/2 (prior knowledge, one session per pod over one tunnel). */
  async send(
    target: UpstreamTarget,
    req: UpstreamRequest,
    protocol: 'http1' | 'http2' = 'http1',
  ): Promise<UpstreamResponse> {
    return protocol === 'http2' ? this.#sendH2(target, req) : fromHttp1(await this.#sendH1(target, req));
  }

  #dial(target: UpstreamTarget) {
    const host = target.ip.includes(':') ? `[${target.ip}]` : target.ip;
    return this.#pool.dial({
      target: `${host}:${target.port}`,
      via: `${host}:${this.#hbonePort}`,
      expectedIdentities: [target.identity],
      source: {
        identity: this.#identity(),
        ...(this.#sourceAddress ? { address: this.#sourceAddress } : {}),
      },
    });
  }

  async #sendH2(target: UpstreamTarget, req: UpstreamRequest): Promise<UpstreamResponse> {
    const key = `${target.ip}:${target.port}|${target.identity}`;
    let session = this.#sessions.get(key);
    if (!session || session.closed || session.destroyed) {
      const tunnel = socketLike(await this.#dial(target));
      session = http2Connect(`http://${key.slice(0, key.indexOf('|'))}`, { createConnection: () => tunnel as never });
      const s = session;
      this.#sessions.set(key, s);
      const forget = () => {
        if (this.#sessions.get(key) === s) this.#sessions.delete(key);
      };
      s.on('close', forget);
      s.on('goaway', forget);
      s.on('error', forget);
    }
    const headers: Record<string, string | string[]> = {
      ':method': req.method,
      ':path': req.path,
      ':scheme': 'http',
      ':authority': String(req.headers.host ?? target.ip),
    };
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !H2_FORBIDDEN.has(k)) headers[k] = typeof v === 'number' ? String(v) : v;
    if (req.headers.te === 'trailers') headers.te = 'trailers';
    const body = req.body?.open() ?? null;
    if (req.body && !body) throw new Error('the request body can no longer be replayed');
    const stream = session.request(headers, { endStream: body === null });
    if (body) sendBody(body, stream, () => stream.close(h2.NGHTTP2_CANCEL));
    let trailers: Record<string, string> | null = null;
    stream.once('trailers', (t: H2Headers) => {
      trailers = {};
      for (const [k, v] of Object.entries(t)) if (v !== undefined && !k.startsWith(':')) trailers[k] = String(v);
    });
    return new Promise((resolve, reject) => {
      const onAbort = () => stream.close(h2.NGHTTP2_CANCEL);
      req.signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => req.signal?.removeEventListener('abort', onAbort));
      stream.once('error', reject);
      stream.once('close', () => reject(new Error(`stream closed with code ${stream.rstCode}`)));
      stream.once('response', (h: H2Headers) => {
        const out: Record<string, string | string[] | undefined> = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k] = v as string | string[];
        resolve({
          statusCode: Number(h[':status'] ?? 502),
          headers: out,
          body: stream,
          trailers: () => trailers,
          complete: () => stream.readableEnded,
        });
      });
    });
  }

  #sendH1(target: UpstreamTarget, req: UpstreamRequest): Promise<IncomingMessage> {
    return this.#http.request(`${target.ip}:${target.port}|${target.identity}`, () => this.#dial(target), {
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.body,
      ...(req.signal ? { signal: req.signal } : {}),
    });
  }

  close(): void {
    this.#http.close();
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }
}
