// The HBONE server (reference: ambient-dataplane.md §2.2-§2.5): mutual TLS 1.3 with ALPN h2, the certificate chosen
// per accepted connection by a provider, the client's SVID verified against the bundle of OUR trust domain (its
// identity is handed to the handler, never pinned at TLS time), then one CONNECT stream per tunnel: the handler
// refuses it (400/401/503…), forwards it to a TCP target, or takes the bytes itself.
//
// Per connection: TCP accept → certificate provider → TLS (a tls.Server per SVID terminates it; no SNI is needed) →
// SPIFFE check → HTTP/2 session (node:http2 performServerHandshake) → streams. Streams and connections are tracked so
// the application can list, close and reset them (policy changes) and so close() can drain with a deadline.
import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import {
  createServer as createNetServer,
  connect as netConnect,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { abortError, systemClock, type Clock, throwIfAborted } from '@mesh/core';
import {
  authorizeMemberOf,
  type PeerVerifier,
  type X509Bundle,
  type X509BundleSource,
  type X509Svid,
} from '@mesh/spiffe';
import { ConnectionRecord, createPeerVerifier, fetchSvid, startKeepalive, verifyPeer } from './connection.js';
import type { HboneConnectionInfo, HboneTunnelInfo } from './diagnostics.js';
import { HboneError } from './errors.js';
import {
  buildConnectResponse,
  decodeConnectRequest,
  formatAuthority,
  toAuthority,
  type Authority,
  type ConnectRequest,
  type WorkloadBaggage,
} from './headers.js';
import {
  checkDuration,
  checkInteger,
  http2Settings,
  resolveHttp2,
  resolveKeepalive,
  tlsVersionOptions,
  type Http2Options,
  type KeepaliveOptions,
  type ResolvedHttp2Options,
  type ResolvedKeepalive,
  type TlsOptions,
} from './options.js';
import { relay } from './relay.js';
import { attachTunnel, connectionLost, resetError, TunnelRecord, type HboneTunnel } from './tunnel.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_CONNECT_ERROR } = constants;

/** Where a connection arrived: what the certificate provider gets to choose an identity (ztunnel: by pod IP). */
export interface AcceptedConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** Returns the SVID (with its private key) to present on a connection. Called once per accepted connection. */
export type ServerCertificateProvider = (connection: AcceptedConnection) => X509Svid | Promise<X509Svid>;

/** Headers a server may add to its CONNECT answer. */
export interface ResponseHeaders {
  /** The destination workload's metadata (ztunnel answers 200 with it). */
  readonly baggage?: string | WorkloadBaggage;
  readonly extra?: Readonly<Record<string, string>>;
}

/** What the handler sees for each CONNECT. */
export interface HboneRequest {
  readonly tunnel: HboneTunnelInfo;
  readonly connection: HboneConnectionInfo;
  /** The client's verified SPIFFE ID (same trust domain as ours): what L4 authorization decides on. */
  readonly peerIdentity: string;
  /** The CONNECT target. Check it against `connection.localAddress` if the target must be this workload. */
  readonly authority: Authority;
  /** The decoded HBONE headers (forwarded, baggage, traceparent, x-forwarded-network) and all raw headers. */
  readonly request: ConnectRequest;
  /** Aborted when the client goes away before the decision was carried out, or the server is destroyed. */
  readonly signal: AbortSignal;
}

/** Dial `target` (default: the authority) and pipe bytes both ways. 200 once connected, 503 when that fails. */
export interface ForwardDecision {
  readonly action: 'forward';
  readonly target?: string | { readonly host: string; readonly port: number };
  /** Local address to bind the upstream connection to (ztunnel in-pod spoofs the client IP). */
  readonly localAddress?: string;
  /** Upstream TCP connect timeout. Default: the server's `upstreamConnectTimeoutMs`. */
  readonly connectTimeoutMs?: number;
  /** Bytes written to the upstream before the tunneled bytes (e.g. a PROXY v2 header from `encodeProxyV2`). */
  readonly preamble?: Uint8Array;
  readonly responseHeaders?: ResponseHeaders;
}

/** Answer 200 and hand the tunnel to `onTunnel` (an L7 proxy feeds it to its HTTP server). */
export interface AcceptDecision {
  readonly action: 'accept';
  readonly onTunnel: (tunnel: HboneTunnel) => void;
  readonly responseHeaders?: ResponseHeaders;
}

/** Answer with `status` (ztunnel: 400 bad request, 401 denied by policy, 503 destination unavailable). */
export interface RefuseDecision {
  readonly action: 'refuse';
  readonly status: number;
  /** For logs and the tunnel:close event; never sent to the client. */
  readonly reason?: string;
  readonly responseHeaders?: ResponseHeaders;
}

export type HboneDecision = ForwardDecision | AcceptDecision | RefuseDecision;

export type HboneHandler = (request: HboneRequest) => HboneDecision | Promise<HboneDecision>;

export interface HboneServerOptions {
  /** The SVID for each accepted connection (one process can serve many identities, e.g. one per pod IP). */
  certificate: ServerCertificateProvider;
  /** Trust bundles (live): clients are verified against the bundle of the trust domain of the SVID we present. */
  bundles: X509BundleSource;
  /** Decides every CONNECT. */
  handler: HboneHandler;
  /** Accept `hostname:port` authorities (double HBONE, service-addressed waypoints). Default false: 400. */
  allowHostnameAuthority?: boolean;
  /** HTTP/2 settings; defaults are ztunnel's inbound (4 MiB / 16 MiB windows, 1 MiB frames, 200 streams, 64 KiB headers). */
  http2?: Http2Options;
  /** PING keepalive; default every 10 s, close after 20 s without an answer (ztunnel). */
  keepalive?: KeepaliveOptions;
  /** TLS versions and ciphers; default TLS 1.3 only with AES-GCM (ztunnel). */
  tls?: TlsOptions;
  /** From TCP accept to an open HTTP/2 session. Default 10 000 ms (ztunnel has no separate knob; Envoy `transport_socket_connect_timeout`). */
  handshakeTimeoutMs?: number;
  /** TCP connect timeout of `forward` decisions. Default 10 000 ms (ztunnel's connection timeout). */
  upstreamConnectTimeoutMs?: number;
  /** How long close() lets open tunnels finish after GOAWAY before resetting them. Default 5 000 ms (ztunnel's drain deadline). */
  drainTimeoutMs?: number;
  /** Refuse TCP connections beyond this many (net.Server maxConnections). Default unlimited. */
  maxConnections?: number;
  clock?: Clock;
}

export interface ListenOptions {
  /** Default `::` (all addresses); ztunnel binds each pod's IP. */
  host?: string;
  /** Default 15008. Pass 0 for an ephemeral port. */
  port?: number;
  backlog?: number;
  signal?: AbortSignal;
}

export interface CloseOptions {
  /** Drain deadline; default the server's `drainTimeoutMs`. */
  timeoutMs?: number;
  /** Aborting ends the drain at once (tunnels still open are reset). */
  signal?: AbortSignal;
}

/** A tunnel as the server's owner sees it: facts, and the power to end it (policy changes). */
export interface HboneServerTunnel {
  readonly info: HboneTunnelInfo;
  /** Ends both directions gracefully (END_STREAM to the client, FIN to the upstream). */
  close(): void;
  /** Aborts at once: RST_STREAM to the client (default CANCEL), TCP RST to the upstream. */
  reset(code?: number): void;
  /** Resolves when the tunnel has closed. */
  readonly closed: Promise<void>;
}

/** Server states: idle ─► listening ─► draining ─► closed (close() from idle goes straight to closed). */
export type ServerState = 'idle' | 'listening' | 'draining' | 'closed';

interface Terminator {
  readonly bundle: X509Bundle;
  readonly server: TlsServer;
  readonly verifier: PeerVerifier;
}

interface ServerConnection {
  readonly record: ConnectionRecord;
  readonly raw: Socket;
  tls?: TLSSocket;
  session?: ServerHttp2Session;
  handshakeTimer?: NodeJS.Timeout;
  stopKeepalive?: () => void;
  readonly tunnels: Set<ServerTunnel>;
}

class ServerTunnel implements HboneServerTunnel {
  readonly record: TunnelRecord;
  readonly tunnel: HboneTunnel;
  upstream: Socket | undefined;
  readonly abort = new AbortController();

  constructor(record: TunnelRecord, tunnel: HboneTunnel) {
    this.record = record;
    this.tunnel = tunnel;
  }

  get info(): HboneTunnelInfo {
    return this.record;
  }

  get closed(): Promise<void> {
    return this.record.closed;
  }

  close(): void {
    if (this.record.state === 'closed') return;
    if (this.record.state !== 'open') return this.reset();
    if (!this.tunnel.writableEnded) this.tunnel.end();
    if (this.upstream && !this.upstream.writableEnded) this.upstream.end();
  }

  reset(code: number = NGHTTP2_CANCEL): void {
    if (this.record.state === 'closed') return;
    this.abort.abort(new HboneError('ERR_HBONE_RESET', 'the tunnel was reset by the server', { details: { code } }));
    this.tunnel.reset(code);
    if (this.upstream && !this.upstream.destroyed) {
      try {
        this.upstream.resetAndDestroy();
      } catch {
        this.upstream.destroy();
      }
    }
  }
}

function connectionKey(s: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number }) {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

export class HboneServer implements AsyncDisposable {
  readonly #options: HboneServerOptions;
  readonly #h2: ResolvedHttp2Options;
  readonly #keepalive: ResolvedKeepalive;
  readonly #handshakeTimeoutMs: number;
  readonly #upstreamConnectTimeoutMs: number;
  readonly #drainTimeoutMs: number;
  readonly #clock: Clock;
  readonly #terminators = new WeakMap<X509Svid, Terminator>();
  readonly #connections = new Set<ServerConnection>();
  readonly #byKey = new Map<string, ServerConnection>();
  readonly #tunnels = new Set<ServerTunnel>();
  #net: NetServer | undefined;
  #state: ServerState = 'idle';
  #closing: Promise<void> | undefined;

  constructor(options: HboneServerOptions) {
    if (typeof options?.certificate !== 'function')
      throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'certificate must be a function returning an X509Svid');
    if (typeof options.handler !== 'function')
      throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'handler must be a function');
    if (typeof options.bundles?.getX509Bundle !== 'function')
      throw new HboneError(
        'ERR_HBONE_BAD_OPTIONS',
        'bundles must be an X509BundleSource (an X509Bundle or X509BundleSet)',
      );
    this.#options = options;
    this.#h2 = resolveHttp2('server', options.http2);
    this.#keepalive = resolveKeepalive(options.keepalive);
    this.#handshakeTimeoutMs = checkDuration('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 10_000);
    this.#upstreamConnectTimeoutMs = checkDuration(
      'upstreamConnectTimeoutMs',
      options.upstreamConnectTimeoutMs ?? 10_000,
    );
    this.#drainTimeoutMs = checkDuration('drainTimeoutMs', options.drainTimeoutMs ?? 5_000, 0);
    if (options.maxConnections !== undefined) checkInteger('maxConnections', options.maxConnections, 1, 2 ** 31 - 1);
    this.#clock = options.clock ?? systemClock;
  }

  get state(): ServerState {
    return this.#state;
  }

  /** Starts listening. Resolves with the bound address. */
  async listen(options: ListenOptions = {}): Promise<{ address: string; port: number; family: string }> {
    throwIfAborted(options.signal);
    if (this.#state !== 'idle')
      throw new HboneError('ERR_HBONE_SERVER_CLOSED', `cannot listen: the server is ${this.#state}`);
    const server = createNetServer({ pauseOnConnect: true, allowHalfOpen: false, noDelay: true }, (socket) =>
      this.handleConnection(socket),
    );
    if (this.#options.maxConnections !== undefined) server.maxConnections = this.#options.maxConnections;
    server.on('error', () => {});
    this.#net = server;
    this.#state = 'listening';
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        server.close();
        reject(abortError(options.signal!));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      server.once('error', (error: NodeJS.ErrnoException) => {
        options.signal?.removeEventListener('abort', onAbort);
        this.#state = 'closed';
        reject(
          new HboneError(
            'ERR_HBONE_BAD_OPTIONS',
            `cannot listen on ${options.host ?? '::'}:${options.port ?? 15008}: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
      });
      server.listen({ host: options.host ?? '::', port: options.port ?? 15008, backlog: options.backlog }, () => {
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    return this.address()!;
  }

  /** The bound address while listening. */
  address(): { address: string; port: number; family: string } | undefined {
    const address = this.#net?.address();
    return address && typeof address === 'object'
      ? { address: address.address, port: address.port, family: address.family }
      : undefined;
  }

  /** Open connections (handshaking, open or draining). */
  *connections(): IterableIterator<HboneConnectionInfo> {
    for (const c of this.#connections) yield c.record;
  }

  /** Tunnels not yet closed: list them to close the ones a new policy denies. */
  *tunnels(): IterableIterator<HboneServerTunnel> {
    yield* this.#tunnels;
  }

  /**
   * Serves an already accepted TCP connection (for applications that own their listeners, e.g. one per pod network
   * namespace). The socket should be paused (net.Server `pauseOnConnect`).
   */
  handleConnection(raw: Socket): void {
    if (this.#state === 'draining' || this.#state === 'closed') {
      raw.destroy();
      return;
    }
    raw.setNoDelay(true);
    const record = new ConnectionRecord('server', this.#clock);
    record.setAddresses(raw);
    const conn: ServerConnection = { record, raw, tunnels: new Set() };
    this.#connections.add(conn);
    const key = connectionKey(raw);
    this.#byKey.set(key, conn);
    let phase: 'certificate' | 'tls' | 'identity' | 'http2' = 'certificate';
    const fail = (error: Error) => {
      clearTimeout(conn.handshakeTimer);
      record.fail(phase, error);
      raw.destroy();
      conn.tls?.destroy();
    };
    raw.on('error', (error) => {
      if (record.state !== 'open' && record.state !== 'draining')
        fail(
          new HboneError('ERR_HBONE_HANDSHAKE_FAILED', `connection failed during ${phase}: ${error.message}`, {
            cause: error,
            details: { phase },
          }),
        );
    });
    raw.once('close', () => {
      this.#byKey.delete(key);
      if (!conn.session) {
        clearTimeout(conn.handshakeTimer);
        record.fail(
          phase,
          new HboneError(
            'ERR_HBONE_HANDSHAKE_FAILED',
            `the client closed the connection during the ${phase} step (a rejected certificate, or not TLS)`,
            {
              details: { phase },
            },
          ),
        );
        this.#connections.delete(conn);
      }
    });
    conn.handshakeTimer = setTimeout(
      () =>
        fail(
          new HboneError('ERR_HBONE_TIMEOUT', `handshake not done after ${this.#handshakeTimeoutMs} ms`, {
            details: { phase: 'handshake' },
          }),
        ),
      this.#handshakeTimeoutMs,
    );
    conn.handshakeTimer.unref();

    const accepted: AcceptedConnection = {
      localAddress: record.localAddress,
      localPort: record.localPort,
      remoteAddress: record.remoteAddress,
      remotePort: record.remotePort,
    };
    fetchSvid(this.#options.certificate, accepted).then(
      (svid) => {
        if (raw.destroyed) return;
        let terminator: Terminator;
        try {
          terminator = this.#terminator(svid);
        } catch (error) {
          return fail(error as Error);
        }
        record.localIdentity = svid.id.toString();
        record.state = 'handshaking';
        phase = 'tls';
        terminator.server.emit('connection', raw);
      },
      (error: Error) => fail(error),
    );
  }

  /** The TLS terminator (a tls.Server that never listens) for an SVID; rebuilt when our trust bundle changes. */
  #terminator(svid: X509Svid): Terminator {
    const td = svid.id.trustDomain;
    const bundle = this.#options.bundles.getX509Bundle(td);
    if (!bundle)
      throw new HboneError(
        'ERR_HBONE_CERTIFICATE',
        `no trust bundle for our trust domain ${td.name}: cannot verify clients`,
      );
    const cached = this.#terminators.get(svid);
    if (cached && cached.bundle === bundle) return cached;
    // Clients must chain to the CAs of OUR trust domain (ztunnel's TrustDomainVerifier); the SPIFFE rules and the
    // trust-domain equality are checked again on the verified chain in #onSecure.
    const server = createTlsServer({
      ...tlsVersionOptions(this.#options.tls),
      cert: svid.chainPem(),
      key: svid.keyPem(),
      ca: bundle.authorities.map((c) => c.toPem()),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
      handshakeTimeout: this.#handshakeTimeoutMs,
    });
    const verifier = createPeerVerifier({
      bundles: this.#options.bundles,
      authorize: authorizeMemberOf(td),
      ...(this.#options.clock ? { clock: this.#options.clock } : {}),
    });
    server.on('secureConnection', (socket: TLSSocket) => this.#onSecure(socket, verifier));
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      const conn = this.#byKey.get(connectionKey(socket));
      const failure = new HboneError('ERR_HBONE_HANDSHAKE_FAILED', `TLS handshake failed: ${error.message}`, {
        cause: error,
        details: { phase: 'tls' },
      });
      if (conn) {
        clearTimeout(conn.handshakeTimer);
        conn.record.fail('tls', failure);
        conn.raw.destroy();
      }
      socket.destroy();
    });
    const terminator = { bundle, server, verifier };
    this.#terminators.set(svid, terminator);
    return terminator;
  }

  #onSecure(socket: TLSSocket, verifier: PeerVerifier): void {
    const conn = this.#byKey.get(connectionKey(socket));
    if (!conn || this.#state === 'closed') {
      socket.destroy();
      return;
    }
    conn.tls = socket;
    const { record } = conn;
    socket.on('error', () => {});
    if (socket.alpnProtocol !== 'h2') {
      clearTimeout(conn.handshakeTimer);
      record.fail(
        'tls',
        new HboneError('ERR_HBONE_HANDSHAKE_FAILED', 'the client did not negotiate ALPN h2', {
          details: { phase: 'tls' },
        }),
      );
      socket.destroy();
      return;
    }
    try {
      record.peerIdentity = verifyPeer(verifier, socket.getPeerCertificate(true)).toString();
    } catch (error) {
      clearTimeout(conn.handshakeTimer);
      record.fail('identity', error as Error);
      socket.destroy();
      return;
    }
    let session: ServerHttp2Session;
    try {
      session = performServerHandshake(socket, {
        settings: http2Settings('server', this.#h2),
        maxSessionMemory: this.#h2.maxSessionMemoryMiB,
        maxHeaderListPairs: 256,
      });
    } catch (error) {
      clearTimeout(conn.handshakeTimer);
      record.fail(
        'http2',
        new HboneError('ERR_HBONE_HANDSHAKE_FAILED', 'HTTP/2 setup failed', {
          cause: error,
          details: { phase: 'http2' },
        }),
      );
      socket.destroy();
      return;
    }
    conn.session = session;
    clearTimeout(conn.handshakeTimer);
    try {
      session.setLocalWindowSize(this.#h2.connectionWindowSize);
    } catch {
      session.once('connect', () => session.setLocalWindowSize(this.#h2.connectionWindowSize));
    }
    record.markOpen();
    if (this.#state === 'draining') session.close();
    conn.stopKeepalive = startKeepalive(session, this.#keepalive, () => {
      const error = connectionLost(`no PING answer within ${this.#keepalive.timeoutMs} ms`);
      for (const t of conn.tunnels) t.record.pendingError ??= error;
      record.finish(error);
      session.destroy();
    });
    session.on('error', (error: Error) => {
      const lost = connectionLost(`the HBONE connection failed: ${error.message}`, error);
      for (const t of conn.tunnels) t.record.pendingError ??= lost;
      record.error ??= lost;
    });
    session.on('goaway', () => record.markDraining());
    session.once('close', () => {
      conn.stopKeepalive?.();
      this.#connections.delete(conn);
      for (const t of conn.tunnels)
        if (t.record.state !== 'closed') t.record.pendingError ??= connectionLost('the HBONE connection closed');
      record.finish();
    });
    session.on('stream', (stream: ServerHttp2Stream, headers) => this.#onStream(conn, stream, headers));
  }

  #onStream(
    conn: ServerConnection,
    stream: ServerHttp2Stream,
    headers: Record<string, string | string[] | number | undefined>,
  ): void {
    const rawAuthority = headers[':authority'];
    const record = new TunnelRecord({
      direction: 'inbound',
      state: 'requested',
      authority: typeof rawAuthority === 'string' ? rawAuthority : '',
      requestHeaders: headers,
      clock: this.#clock,
    });
    record.carrier = conn.record;
    conn.record.activeTunnels++;
    conn.record.totalTunnels++;
    const tunnel = attachTunnel(record, stream);
    const entry = new ServerTunnel(record, tunnel);
    conn.tunnels.add(entry);
    this.#tunnels.add(entry);
    stream.on('error', () => {});
    stream.once('close', () =>
      entry.abort.abort(connectionLost('the client closed the stream before the tunnel opened')),
    );
    record.onClose(() => {
      conn.record.activeTunnels--;
      conn.tunnels.delete(entry);
      this.#tunnels.delete(entry);
    });

    const decoded = decodeConnectRequest(headers, { allowHostname: this.#options.allowHostnameAuthority ?? false });
    if (!decoded.ok) return this.#refuse(entry, 400, decoded.reason);
    record.authority = formatAuthority(decoded.request.authority);

    const signal = entry.abort.signal;
    let decision: Promise<HboneDecision>;
    try {
      decision = Promise.resolve(
        this.#options.handler({
          tunnel: record,
          connection: conn.record,
          peerIdentity: conn.record.peerIdentity!,
          authority: decoded.request.authority,
          request: decoded.request,
          signal,
        }),
      );
    } catch (error) {
      decision = Promise.reject(error);
    }
    decision.then(
      (d) => this.#carryOut(entry, d, signal),
      (error: unknown) =>
        this.#refuse(entry, 503, `the handler failed: ${(error as Error)?.message ?? String(error)}`, error),
    );
  }

  #respond(entry: ServerTunnel, status: number, headers: ResponseHeaders | undefined, endStream: boolean): boolean {
    const stream = entry.tunnel as unknown as ServerHttp2Stream;
    if (stream.destroyed || stream.closed || stream.headersSent) return false;
    try {
      const response = buildConnectResponse({
        status,
        ...(headers?.baggage !== undefined ? { baggage: headers.baggage } : {}),
        ...(headers?.extra ? { extra: headers.extra } : {}),
      });
      stream.respond(response, { endStream });
      entry.record.responseHeaders = response;
      return true;
    } catch (error) {
      entry.record.pendingError ??= error as Error;
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return false;
    }
  }

  #refuse(entry: ServerTunnel, status: number, reason?: string, cause?: unknown, headers?: ResponseHeaders): void {
    const { record } = entry;
    const error =
      cause instanceof HboneError && (cause.code === 'ERR_HBONE_CONNECT_FAILED' || cause.code === 'ERR_HBONE_TIMEOUT')
        ? cause
        : new HboneError('ERR_HBONE_REFUSED', `refused with ${status}${reason ? `: ${reason}` : ''}`, {
            details: { status, ...(reason ? { reason } : {}) },
            ...(cause === undefined ? {} : { cause }),
          });
    record.status = status;
    if (this.#respond(entry, status, headers, true)) {
      const stream = entry.tunnel as unknown as ServerHttp2Stream;
      // The response is complete; tell the client to stop sending (RFC 9113 §8.1) so the stream can close.
      if (!stream.closed) stream.close(NGHTTP2_NO_ERROR);
    }
    record.finish('refused', error);
  }

  #carryOut(entry: ServerTunnel, decision: HboneDecision, signal: AbortSignal): void {
    const { record, tunnel } = entry;
    if (record.state === 'closed') return;
    if (signal.aborted || tunnel.destroyed) {
      record.finish('error', connectionLost('the client went away before the tunnel opened'));
      return;
    }
    switch (decision?.action) {
      case 'refuse': {
        const status = decision.status;
        if (!Number.isInteger(status) || status < 300 || status > 599)
          return this.#refuse(entry, 503, `the handler refused with invalid status ${String(status)}`);
        return this.#refuse(entry, status, decision.reason, undefined, decision.responseHeaders);
      }
      case 'accept': {
        if (!this.#respond(entry, 200, decision.responseHeaders, false)) return;
        record.markOpen(200);
        try {
          decision.onTunnel(tunnel);
        } catch (error) {
          record.pendingError ??= error as Error;
          tunnel.reset(constants.NGHTTP2_INTERNAL_ERROR);
        }
        return;
      }
      case 'forward':
        return this.#forward(entry, decision, signal);
      default:
        return this.#refuse(entry, 503, 'the handler returned no decision');
    }
  }

  #forward(entry: ServerTunnel, decision: ForwardDecision, signal: AbortSignal): void {
    const { record, tunnel } = entry;
    let target: Authority;
    try {
      target =
        decision.target === undefined
          ? toAuthority(record.authority, { allowHostname: true })
          : toAuthority(decision.target, { allowHostname: true });
    } catch (error) {
      return this.#refuse(entry, 503, 'the forward target is not host:port', error);
    }
    record.state = 'connecting';
    record.target = formatAuthority(target);
    const timeoutMs = decision.connectTimeoutMs ?? this.#upstreamConnectTimeoutMs;
    const upstream = netConnect({
      host: target.host,
      port: target.port,
      ...(decision.localAddress ? { localAddress: decision.localAddress } : {}),
      allowHalfOpen: true,
      noDelay: true,
    });
    entry.upstream = upstream;
    let settled = false;
    const timer = setTimeout(() => {
      fail(
        new HboneError('ERR_HBONE_TIMEOUT', `connecting to ${record.target} timed out after ${timeoutMs} ms`, {
          details: { phase: 'upstream', target: record.target },
        }),
      );
    }, timeoutMs);
    const onAbort = () => fail(connectionLost('the client went away before the upstream connected'));
    signal.addEventListener('abort', onAbort, { once: true });
    const fail = (error: HboneError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      upstream.destroy();
      if (tunnel.destroyed || tunnel.closed) record.finish('error', error);
      else this.#refuse(entry, 503, error.message, error);
    };
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (!settled)
        fail(
          new HboneError('ERR_HBONE_CONNECT_FAILED', `cannot connect to ${record.target}: ${error.message}`, {
            cause: error,
            details: { target: record.target, code: error.code },
          }),
        );
    });
    upstream.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      upstream.on('error', (error: Error) => {
        record.pendingError ??= resetError(NGHTTP2_CONNECT_ERROR, 'upstream', error);
      });
      if (decision.preamble && decision.preamble.length > 0) upstream.write(decision.preamble);
      if (!this.#respond(entry, 200, decision.responseHeaders, false)) {
        upstream.destroy();
        record.finish('error', record.pendingError ?? connectionLost('the client went away before the tunnel opened'));
        return;
      }
      record.markOpen(200);
      void relay(tunnel, upstream);
    });
  }

  /**
   * Graceful drain: stop accepting, send GOAWAY on every connection, let open tunnels finish until the deadline, then
   * reset what is left. Idempotent; resolves when everything is closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#drain(options);
    return this.#closing;
  }

  async #drain(options: CloseOptions): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'draining';
    const timeoutMs = options.timeoutMs ?? this.#drainTimeoutMs;
    const netClosed = this.#net ? new Promise<void>((resolve) => this.#net!.close(() => resolve())) : Promise.resolve();
    for (const conn of this.#connections) {
      if (conn.session && !conn.session.closed) {
        conn.record.markDraining();
        conn.session.close();
      } else if (!conn.session) {
        conn.raw.destroy();
      }
    }
    const all = () => Promise.all([...this.#connections].map((c) => c.record.closed));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([all(), deadline]);
    clearTimeout(timer);
    this.#destroyAll();
    await Promise.all([all(), netClosed]);
    this.#state = 'closed';
  }

  #destroyAll(): void {
    for (const t of this.#tunnels) {
      t.abort.abort(new HboneError('ERR_HBONE_SERVER_CLOSED', 'the HBONE server closed'));
      t.reset(NGHTTP2_CANCEL);
    }
    for (const conn of this.#connections) {
      conn.session?.destroy();
      conn.tls?.destroy();
      conn.raw.destroy();
    }
  }

  /** Closes at once: no drain, every tunnel reset. */
  async destroy(): Promise<void> {
    const closing = this.close({ timeoutMs: 0 });
    this.#destroyAll();
    await closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Creates an HBONE server; call `listen()` (or feed it sockets with `handleConnection`). */
export function createHboneServer(options: HboneServerOptions): HboneServer {
  return new HboneServer(options);
}
