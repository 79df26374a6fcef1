// The HBONE client (reference: ambient-dataplane.md §2.2-§2.6): TLS 1.3 with ALPN h2, no SNI, no session resumption,
// our SVID as client certificate, the server accepted only if its SVID verifies and its SPIFFE ID is one of the
// expected identities; then HTTP/2 with ztunnel's settings and one CONNECT stream per tunnel.
//
// HbonePool keeps connections per {source identity, expected identities, next hop, source address} (ztunnel's
// WorkloadKey): at most `maxStreamsPerConnection` tunnels per connection (and never more than the peer allows), then
// another connection; one connection is dialed at a time per key (concurrent dials wait for it instead of opening
// their own); connections that received GOAWAY are skipped; idle ones are released after 5 minutes; PING every 10 s.
// `dial()` without a pool opens a dedicated connection per tunnel (the inner tunnel of double HBONE, one-shot CLIs).
import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { abortable, abortError, systemClock, throwIfAborted, type Clock, type Rng } from '@mesh/core';
import { authorizeIds, SpiffeId, type PeerVerifier, type X509BundleSource, type X509Svid } from '@mesh/spiffe';
import {
  ConnectionRecord,
  createPeerVerifier,
  fetchSvid,
  peerError,
  SecureContextCache,
  startKeepalive,
} from './connection.js';
import type { HboneConnectionInfo } from './diagnostics.js';
import { HboneError } from './errors.js';
import {
  buildConnectHeaders,
  decodeConnectResponse,
  formatAuthority,
  HBONE_PORT,
  newTraceparent,
  toAuthority,
  type Authority,
  type ForwardedElement,
  type TraceParent,
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
import { attachTunnel, connectionLost, nodeCode, resetError, TunnelRecord, type HboneTunnel } from './tunnel.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;

/** What the client certificate provider is asked for. */
export interface CertificateRequest {
  /** The source identity of the dial, when the caller named one (ztunnel: the source workload's identity). */
  readonly identity: string | undefined;
}

/** Returns our SVID (with its private key) for a new connection. Called once per connection, not per tunnel. */
export type ClientCertificateProvider = (request: CertificateRequest) => X509Svid | Promise<X509Svid>;

/** Options shared by pools and one-shot dials. */
export interface HboneClientOptions {
  /** Our certificate, per connection. */
  certificate: ClientCertificateProvider;
  /** Trust bundles (live): the server is verified against the bundle of its own trust domain. */
  bundles: X509BundleSource;
  /** HTTP/2 settings; defaults are ztunnel's outbound (4 MiB / 16 MiB windows, 1 MiB frames, 16 KiB headers). */
  http2?: Http2Options;
  /** PING keepalive; default every 10 s, drop after 20 s without an answer (ztunnel). */
  keepalive?: KeepaliveOptions;
  /** TLS versions and ciphers; default TLS 1.3 only with AES-GCM (ztunnel). */
  tls?: TlsOptions;
  /** TCP connect timeout to the next hop. Default 10 000 ms (ztunnel; a timeout there hints at a NetworkPolicy). */
  connectTimeoutMs?: number;
  /** TLS + HTTP/2 handshake timeout. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Whole-dial deadline (connection, handshake, CONNECT answer) unless a dial sets its own. Default 30 000 ms. */
  dialTimeoutMs?: number;
  clock?: Clock;
  /** Randomness for the traceparent of each tunnel (default: crypto.getRandomValues). */
  rng?: Rng;
}

export interface HbonePoolOptions extends HboneClientOptions {
  /** Tunnels per connection before another connection is opened. Default 100 — ztunnel `POOL_MAX_STREAMS_PER_CONNECTION`. */
  maxStreamsPerConnection?: number;
  /** Release a connection after this long without tunnels. Default 300 000 ms — ztunnel `POOL_UNUSED_RELEASE_TIMEOUT`. */
  idleTimeoutMs?: number;
  /** How long close() lets open tunnels finish before resetting them. Default 5 000 ms. */
  drainTimeoutMs?: number;
}

/** One tunnel to open. */
export interface DialOptions {
  /** The CONNECT :authority: `ip:port`, `[ipv6]:port`, or `<service hostname>:<port>` for double HBONE. */
  target: string | { readonly host: string; readonly port: number };
  /**
   * The next hop to dial (an HBONE server): the destination's `ip:15008`, a waypoint, a gateway. Default: the
   * target's host on port 15008.
   */
  via?: string | { readonly host: string; readonly port: number };
  /** The server must present an SVID whose SPIFFE ID is one of these (destination identity + service SANs). */
  expectedIdentities: ReadonlyArray<string | SpiffeId>;
  /** Pool key parts: our identity (passed to the certificate provider) and the local address to dial from. */
  source?: { readonly identity?: string; readonly address?: string };
  /** `forwarded`: a ready value or elements; ztunnel sends `{ for: "<client ip:port>", host: "<service fqdn>" }`. */
  forwarded?: string | ForwardedElement | readonly ForwardedElement[];
  /** `baggage`: the source workload's metadata. */
  baggage?: string | WorkloadBaggage;
  /** `traceparent`: default a fresh random one per tunnel (ztunnel); `false` sends none. */
  traceparent?: string | TraceParent | false;
  /** `x-forwarded-network`: set on the inner CONNECT of double HBONE (the origin network). */
  forwardedNetwork?: string;
  /** Further request headers. */
  headers?: Readonly<Record<string, string>>;
  /** Deadline for the whole dial. Default: the client's `dialTimeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface OneShotDialOptions extends DialOptions, HboneClientOptions {
  /**
   * Run the HBONE connection over this duplex instead of a TCP connection to `via` — e.g. another tunnel, for
   * double HBONE (the inner TLS goes end-to-end through the outer tunnel). `via` is then only informational.
   */
  transport?: Duplex;
}

interface Resolved {
  readonly h2: ResolvedHttp2Options;
  readonly keepalive: ResolvedKeepalive;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly dialTimeoutMs: number;
  readonly clock: Clock;
  readonly contexts: SecureContextCache;
  readonly options: HboneClientOptions;
}

function resolveClient(options: HboneClientOptions): Resolved {
  if (typeof options?.certificate !== 'function')
    throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'certificate must be a function returning an X509Svid');
  if (typeof options.bundles?.getX509Bundle !== 'function')
    throw new HboneError(
      'ERR_HBONE_BAD_OPTIONS',
      'bundles must be an X509BundleSource (an X509Bundle or X509BundleSet)',
    );
  return {
    h2: resolveHttp2('client', options.http2),
    keepalive: resolveKeepalive(options.keepalive),
    connectTimeoutMs: checkDuration('connectTimeoutMs', options.connectTimeoutMs ?? 10_000),
    handshakeTimeoutMs: checkDuration('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 10_000),
    dialTimeoutMs: checkDuration('dialTimeoutMs', options.dialTimeoutMs ?? 30_000),
    clock: options.clock ?? systemClock,
    contexts: new SecureContextCache(options.bundles, options.tls),
    options,
  };
}

interface Plan {
  readonly authority: Authority;
  readonly via: Authority;
  readonly expected: readonly SpiffeId[];
  readonly headers: Record<string, string>;
  readonly sourceIdentity: string | undefined;
  readonly sourceAddress: string | undefined;
  readonly key: string;
}

function plan(options: DialOptions, rng: Rng | undefined): Plan {
  if (!options || options.target === undefined) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'dial needs a target');
  const authority = toAuthority(options.target, { allowHostname: true });
  const via =
    options.via === undefined
      ? toAuthority({ host: authority.host, port: HBONE_PORT }, { allowHostname: true })
      : toAuthority(options.via, { allowHostname: true });
  if (!Array.isArray(options.expectedIdentities) || options.expectedIdentities.length === 0)
    throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'expectedIdentities must list at least one SPIFFE ID');
  let expected: SpiffeId[];
  try {
    expected = options.expectedIdentities.map((id) => (typeof id === 'string' ? SpiffeId.parse(id) : id));
  } catch (error) {
    throw new HboneError('ERR_HBONE_BAD_OPTIONS', `expectedIdentities: ${(error as Error).message}`, { cause: error });
  }
  const traceparent = options.traceparent === false ? undefined : (options.traceparent ?? newTraceparent(rng));
  const headers = buildConnectHeaders({
    authority,
    ...(options.forwarded !== undefined ? { forwarded: options.forwarded } : {}),
    ...(options.baggage !== undefined ? { baggage: options.baggage } : {}),
    ...(traceparent !== undefined ? { traceparent } : {}),
    ...(options.forwardedNetwork !== undefined ? { forwardedNetwork: options.forwardedNetwork } : {}),
    ...(options.headers ? { extra: options.headers } : {}),
  });
  const sourceIdentity = options.source?.identity;
  const sourceAddress = options.source?.address;
  const ids = [...new Set(expected.map((id) => id.toString()))].sort();
  const key = JSON.stringify([sourceIdentity ?? '', ids, formatAuthority(via), sourceAddress ?? '']);
  return { authority, via, expected, headers, sourceIdentity, sourceAddress, key };
}

/** One HBONE connection (TLS + HTTP/2 session) to a next hop. */
class ClientConnection {
  readonly record: ConnectionRecord;
  readonly session: ClientHttp2Session;
  maxStreams: number;
  /** Tunnels reserved or open on this connection. */
  active = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopKeepalive: () => void;
  #goaway = false;
  #gotSettings = false;
  readonly tunnels = new Set<TunnelRecord>();
  onIdle: (() => void) | undefined;
  onGone: (() => void) | undefined;

  private constructor(cfg: Resolved, record: ConnectionRecord, session: ClientHttp2Session, maxStreams: number) {
    this.record = record;
    this.session = session;
    this.maxStreams = maxStreams;
    session.on('remoteSettings', (settings) => {
      this.#gotSettings = true;
      if (settings.maxConcurrentStreams !== undefined)
        this.maxStreams = Math.max(1, Math.min(maxStreams, settings.maxConcurrentStreams));
    });
    session.on('goaway', () => {
      this.#goaway = true;
      record.markDraining();
      this.onGone?.();
      if (this.active === 0) session.close();
    });
    session.on('error', (error: Error) => {
      const lost = this.#gotSettings
        ? connectionLost(`the HBONE connection failed: ${error.message}`, error)
        : notAccepted(error);
      record.error ??= lost;
      for (const t of this.tunnels) t.pendingError ??= lost;
    });
    session.once('close', () => {
      this.#stopKeepalive();
      clearTimeout(this.#idleTimer);
      const fallback = this.#gotSettings ? connectionLost('the HBONE connection closed') : notAccepted();
      for (const t of this.tunnels) if (t.state !== 'closed') t.pendingError ??= record.error ?? fallback;
      record.finish();
      this.onGone?.();
    });
    this.#stopKeepalive = startKeepalive(session, cfg.keepalive, () => {
      const error = connectionLost(`no PING answer within ${cfg.keepalive.timeoutMs} ms`);
      record.error ??= error;
      for (const t of this.tunnels) t.pendingError ??= error;
      session.destroy();
    });
  }

  /** Dials, handshakes and verifies a new connection. */
  static async open(
    cfg: Resolved,
    p: Plan,
    maxStreams: number,
    signal: AbortSignal,
    transport?: Duplex,
  ): Promise<ClientConnection> {
    const record = new ConnectionRecord('client', cfg.clock);
    record.remoteAddress = p.via.host;
    record.remotePort = p.via.port;
    let phase: 'certificate' | 'connect' | 'tls' | 'identity' | 'http2' = 'certificate';
    let socket: Socket | undefined;
    let tlsSocket: TLSSocket | undefined;
    try {
      const svid = await abortable(fetchSvid(cfg.options.certificate, { identity: p.sourceIdentity }), signal);
      record.localIdentity = svid.id.toString();
      const secureContext = cfg.contexts.get(svid, [
        ...new Map(p.expected.map((id) => [id.trustDomain.name, id.trustDomain])).values(),
      ]);
      const verifier = verifierFor(cfg, p.expected);

      phase = 'connect';
      const carrier = transport ?? (socket = await tcpConnect(p, cfg.connectTimeoutMs, signal));
      if (socket) record.setAddresses(socket);

      phase = 'tls';
      record.state = 'handshaking';
      tlsSocket = await tlsHandshake(carrier, secureContext, verifier, cfg, signal, (p2) => (phase = p2));
      record.peerIdentity = verifiedIdentity.get(tlsSocket);

      phase = 'http2';
      const session = http2Connect(`https://${formatAuthority(p.via)}`, {
        createConnection: () => tlsSocket!,
        settings: http2Settings('client', cfg.h2),
        peerMaxConcurrentStreams: cfg.h2.maxConcurrentStreams,
        maxSessionMemory: cfg.h2.maxSessionMemoryMiB,
        maxHeaderListPairs: 256,
      });
      session.on('error', () => {});
      try {
        session.setLocalWindowSize(cfg.h2.connectionWindowSize);
      } catch {
        session.once('connect', () => session.setLocalWindowSize(cfg.h2.connectionWindowSize));
      }
      const connection = new ClientConnection(cfg, record, session, maxStreams);
      record.markOpen();
      return connection;
    } catch (error) {
      socket?.destroy();
      tlsSocket?.destroy();
      const failure = signal.aborted ? abortError(signal) : (error as Error);
      record.fail(phase === 'certificate' ? 'certificate' : phase, failure);
      throw failure;
    }
  }

  get usable(): boolean {
    return !this.#goaway && !this.session.closed && !this.session.destroyed && this.record.state === 'open';
  }

  get hasRoom(): boolean {
    return this.usable && this.active < this.maxStreams;
  }

  reserve(): void {
    this.active++;
    this.record.activeTunnels = this.active;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  release(): void {
    this.active--;
    this.record.activeTunnels = this.active;
    if (this.active > 0) return;
    if (!this.usable) {
      if (!this.session.closed && !this.session.destroyed) this.session.close();
      return;
    }
    this.onIdle?.();
  }

  startIdleTimer(ms: number): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.drain(), ms);
    this.#idleTimer.unref();
  }

  /** GOAWAY and close once the tunnels are done. */
  drain(): void {
    this.#goaway = true;
    this.record.markDraining();
    if (!this.session.closed && !this.session.destroyed) this.session.close();
    this.onGone?.();
  }

  destroy(error?: Error): void {
    for (const t of this.tunnels) if (error) t.pendingError ??= error;
    this.session.destroy();
  }

  /** Sends the CONNECT on a reserved slot and waits for the answer. Releases the slot when the tunnel ends. */
  request(record: TunnelRecord, p: Plan, signal: AbortSignal): Promise<HboneTunnel> {
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(p.headers, { endStream: false });
    } catch (error) {
      this.release();
      const failure = connectionLost(`cannot open a stream: ${(error as Error).message}`, error);
      record.finish('error', failure);
      throw failure;
    }
    this.record.totalTunnels++;
    record.carrier = this.record;
    record.state = 'requested';
    this.tunnels.add(record);
    const tunnel = attachTunnel(record, stream);
    record.onClose(() => {
      this.tunnels.delete(record);
      this.release();
    });
    return new Promise<HboneTunnel>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        stream.off('error', onError);
        stream.off('close', onClose);
        if (error) reject(error);
        else resolve(tunnel);
      };
      const onAbort = () => {
        const error = abortError(signal);
        record.pendingError ??= error;
        tunnel.reset(NGHTTP2_CANCEL);
        settle(error);
      };
      const onError = (error: Error) => {
        record.pendingError ??= error;
      };
      const onClose = () => {
        const code = stream.rstCode;
        const sessionGone = this.session.destroyed || this.session.closed;
        const pending = record.pendingError as (Error & { code?: string }) | undefined;
        const error =
          (sessionGone && !this.#gotSettings && (!pending || pending.code === 'ERR_HBONE_CONNECTION_LOST')
            ? notAccepted(pending)
            : undefined) ??
          pending ??
          (sessionGone ? connectionLost('the HBONE connection closed before the CONNECT was answered') : undefined) ??
          (code === NGHTTP2_REFUSED_STREAM
            ? new HboneError('ERR_HBONE_RESET', 'the server refused the stream (REFUSED_STREAM): it is shutting down', {
                details: { code, by: 'peer', retryable: true },
              })
            : code !== undefined && code !== 0
              ? resetError(code, 'peer')
              : connectionLost('the stream closed before the CONNECT was answered'));
        record.finish((error as { code?: string }).code === 'ERR_HBONE_RESET' ? 'reset' : 'error', error);
        settle(error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('error', onError);
      stream.once('close', onClose);
      stream.once('response', (headers) => {
        const response = decodeConnectResponse(headers);
        record.responseHeaders = headers;
        if (response.status === 200) {
          record.markOpen(200);
          settle();
          return;
        }
        record.status = response.status;
        const error = new HboneError(
          'ERR_HBONE_REFUSED',
          `the HBONE server answered ${response.status} for ${record.authority}`,
          {
            details: { status: response.status, authority: record.authority },
          },
        );
        record.finish('refused', error);
        if (!stream.closed) {
          record.localReset = NGHTTP2_CANCEL;
          stream.close(NGHTTP2_CANCEL);
        }
        settle(error);
      });
    });
  }
}

const verifiedIdentity = new WeakMap<TLSSocket, string>();

/**
 * The server closed before its SETTINGS arrived: with TLS 1.3 the client finishes the handshake first, so a server
 * that rejects our certificate (or is not an HBONE server) shows up here.
 */
function notAccepted(cause?: Error): HboneError {
  return new HboneError(
    'ERR_HBONE_HANDSHAKE_FAILED',
    `the server closed the connection before HTTP/2 started (it rejected our certificate, or is not an HBONE server)${cause && !(cause instanceof HboneError) ? `: ${cause.message}` : ''}`,
    { details: { phase: 'http2' }, ...(cause ? { cause } : {}) },
  );
}

function verifierFor(cfg: Resolved, expected: readonly SpiffeId[]): PeerVerifier {
  return createPeerVerifier({
    bundles: cfg.options.bundles,
    authorize: authorizeIds(...expected),
    ...(cfg.options.clock ? { clock: cfg.options.clock } : {}),
  });
}

function tcpConnect(p: Plan, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const target = formatAuthority(p.via);
    const socket = netConnect({
      host: p.via.host,
      port: p.via.port,
      ...(p.sourceAddress ? { localAddress: p.sourceAddress } : {}),
      noDelay: true,
    });
    const done = (error?: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(socket);
    };
    const onAbort = () => done(abortError(signal));
    const onError = (error: NodeJS.ErrnoException) =>
      done(
        new HboneError('ERR_HBONE_CONNECT_FAILED', `cannot connect to ${target}: ${error.message}`, {
          cause: error,
          details: { address: target, code: error.code },
        }),
      );
    const timer = setTimeout(
      () =>
        done(
          new HboneError(
            'ERR_HBONE_TIMEOUT',
            `connecting to ${target} timed out after ${timeoutMs} ms${p.via.port === HBONE_PORT ? ' (maybe a NetworkPolicy is blocking HBONE port 15008)' : ''}`,
            { details: { phase: 'connect', address: target } },
          ),
        ),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => done());
  });
}

function tlsHandshake(
  carrier: Duplex,
  secureContext: ReturnType<SecureContextCache['get']>,
  verifier: PeerVerifier,
  cfg: Resolved,
  signal: AbortSignal,
  setPhase: (phase: 'tls' | 'identity') => void,
): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    let identityError: Error | undefined;
    const tlsSocket = tlsConnect({
      socket: carrier,
      secureContext,
      ...tlsVersionOptions(cfg.options.tls),
      ALPNProtocols: ['h2'],
      // No SNI: ztunnel neither sends nor reads it; servers pick the certificate by the address dialed.
      servername: '',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, certificate) => {
        try {
          verifiedIdentity.set(tlsSocket, verifier.verify(certificate).id.toString());
          return undefined;
        } catch (error) {
          identityError = peerError(error);
          return identityError;
        }
      },
    });
    const done = (error?: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      tlsSocket.off('error', onError);
      if (error) {
        tlsSocket.destroy();
        reject(error);
      } else resolve(tlsSocket);
    };
    const onAbort = () => done(abortError(signal));
    const onError = (error: NodeJS.ErrnoException) => {
      if (identityError) {
        setPhase('identity');
        return done(identityError);
      }
      // OpenSSL's own chain verification failed before ours ran: the server is not trusted.
      if (
        typeof error.code === 'string' &&
        /CERT|VERIFY|ISSUER|SELF_SIGNED/.test(error.code) &&
        !error.code.startsWith(nodeCode('SSL'))
      )
        return done(peerError(error));
      done(
        new HboneError('ERR_HBONE_HANDSHAKE_FAILED', `TLS handshake failed: ${error.message}`, {
          cause: error,
          details: { phase: 'tls', code: error.code },
        }),
      );
    };
    const timer = setTimeout(
      () =>
        done(
          new HboneError('ERR_HBONE_TIMEOUT', `TLS handshake not done after ${cfg.handshakeTimeoutMs} ms`, {
            details: { phase: 'handshake' },
          }),
        ),
      cfg.handshakeTimeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    tlsSocket.on('error', onError);
    tlsSocket.once('secureConnect', () => {
      if (tlsSocket.alpnProtocol !== 'h2')
        return done(
          new HboneError('ERR_HBONE_HANDSHAKE_FAILED', 'the server did not negotiate ALPN h2', {
            details: { phase: 'tls' },
          }),
        );
      if (!verifiedIdentity.has(tlsSocket))
        return done(new HboneError('ERR_HBONE_UNTRUSTED_PEER', 'the server identity was not verified'));
      tlsSocket.on('error', () => {});
      done();
    });
  });
}

interface PoolEntry {
  readonly key: string;
  readonly connections: ClientConnection[];
  connecting: Promise<ClientConnection> | undefined;
}

/** Pool states: open ─► closing ─► closed. */
export type PoolState = 'open' | 'closing' | 'closed';

/** A pool of HBONE connections. One per source workload in ztunnel (in-pod mode), or one per process. */
export class HbonePool implements AsyncDisposable {
  readonly #cfg: Resolved;
  readonly #maxStreams: number;
  readonly #idleTimeoutMs: number;
  readonly #drainTimeoutMs: number;
  readonly #entries = new Map<string, PoolEntry>();
  readonly #all = new Set<ClientConnection>();
  /**
   * What the pool's closing aborts: every pending dial's scope and every connection being opened. Kept here rather
   * than as listeners on one long-lived signal, which would gain a listener per concurrent dial (Node warns past 10).
   */
  readonly #pending = new Set<{ abort(reason: unknown): void }>();
  #state: PoolState = 'open';
  #closing: Promise<void> | undefined;

  constructor(options: HbonePoolOptions) {
    this.#cfg = resolveClient(options);
    this.#maxStreams = checkInteger('maxStreamsPerConnection', options.maxStreamsPerConnection ?? 100, 1, 2 ** 31 - 1);
    this.#idleTimeoutMs = checkDuration('idleTimeoutMs', options.idleTimeoutMs ?? 300_000);
    this.#drainTimeoutMs = checkDuration('drainTimeoutMs', options.drainTimeoutMs ?? 5_000, 0);
  }

  get state(): PoolState {
    return this.#state;
  }

  /** The pool's connections (for config_dump-style views). */
  *connections(): IterableIterator<HboneConnectionInfo> {
    for (const c of this.#all) yield c.record;
  }

  /** Opens a tunnel through a pooled connection. Resolves once the server answered 200. */
  async dial(options: DialOptions): Promise<HboneTunnel> {
    if (this.#state !== 'open') throw new HboneError('ERR_HBONE_POOL_CLOSED', 'the HBONE pool is closed');
    throwIfAborted(options?.signal);
    const p = plan(options, this.#cfg.options.rng);
    using scope = new DialScope(
      checkDuration('timeoutMs', options.timeoutMs ?? this.#cfg.dialTimeoutMs),
      options.signal,
      this.#pending,
    );
    const signal = scope.signal;
    for (let attempt = 0; ; attempt++) {
      const record = new TunnelRecord({
        direction: 'outbound',
        state: 'pending',
        authority: p.headers[':authority']!,
        requestHeaders: p.headers,
        clock: this.#cfg.clock,
      });
      let connection: ClientConnection;
      try {
        connection = await this.#acquire(p, signal);
      } catch (error) {
        record.finish('error', error as Error);
        throw error;
      }
      try {
        return await connection.request(record, p, signal);
      } catch (error) {
        // REFUSED_STREAM: the server was draining and never processed the stream; one retry on a fresh connection.
        if ((error as HboneError).details?.retryable === true && attempt === 0 && !signal.aborted) continue;
        throw error;
      }
    }
  }

  async #acquire(p: Plan, signal: AbortSignal): Promise<ClientConnection> {
    for (;;) {
      throwIfAborted(signal);
      let entry = this.#entries.get(p.key);
      if (!entry) {
        entry = { key: p.key, connections: [], connecting: undefined };
        this.#entries.set(p.key, entry);
      }
      for (const c of entry.connections) {
        if (c.hasRoom) {
          c.reserve();
          return c;
        }
      }
      if (entry.connecting) {
        // One dial at a time per key: wait for it, then look again (it may already be full).
        await abortable(entry.connecting, signal);
        continue;
      }
      const e = entry;
      // Opening outlives the dial that started it (others wait on it), so only the pool's closing aborts it.
      const opening = new AbortController();
      this.#pending.add(opening);
      const connecting = ClientConnection.open(this.#cfg, p, this.#maxStreams, opening.signal);
      const settled = () => this.#pending.delete(opening);
      connecting.then(settled, settled);
      e.connecting = connecting;
      connecting.then(
        (c) => {
          e.connecting = undefined;
          if (this.#state !== 'open') {
            c.drain();
            return;
          }
          e.connections.push(c);
          this.#all.add(c);
          c.onIdle = () => c.startIdleTimer(this.#idleTimeoutMs);
          c.startIdleTimer(this.#idleTimeoutMs);
          c.onGone = () => this.#forget(e, c);
          c.record.closed.then(() => this.#all.delete(c));
        },
        () => {
          e.connecting = undefined;
          if (e.connections.length === 0 && this.#entries.get(e.key) === e) this.#entries.delete(e.key);
        },
      );
      const c = await abortable(connecting, signal);
      if (c.hasRoom) {
        c.reserve();
        return c;
      }
    }
  }

  #forget(entry: PoolEntry, connection: ClientConnection): void {
    const i = entry.connections.indexOf(connection);
    if (i !== -1) entry.connections.splice(i, 1);
    if (entry.connections.length === 0 && !entry.connecting && this.#entries.get(entry.key) === entry)
      this.#entries.delete(entry.key);
  }

  /**
   * Stops dialing, sends GOAWAY on every connection and lets open tunnels finish until the deadline, then resets what
   * is left. Idempotent.
   */
  close(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    this.#closing ??= this.#drain(options);
    return this.#closing;
  }

  async #drain(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    this.#state = 'closing';
    const reason = new HboneError('ERR_HBONE_POOL_CLOSED', 'the HBONE pool is closed');
    for (const p of [...this.#pending]) p.abort(reason);
    for (const c of this.#all) c.drain();
    const all = () => Promise.all([...this.#all].map((c) => c.record.closed));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs ?? this.#drainTimeoutMs);
      timer.unref();
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([all(), deadline]);
    clearTimeout(timer);
    for (const c of this.#all) c.destroy(connectionLost('the HBONE pool closed'));
    await all();
    this.#entries.clear();
    this.#state = 'closed';
  }

  /** Closes without draining: every tunnel is reset. */
  destroy(): Promise<void> {
    const closing = this.close({ timeoutMs: 0 });
    for (const c of this.#all) c.destroy(connectionLost('the HBONE pool was destroyed'));
    return closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Creates a connection pool. */
export function createHbonePool(options: HbonePoolOptions): HbonePool {
  return new HbonePool(options);
}

/**
 * Opens one tunnel over a dedicated connection (closed when the tunnel closes). For one-shot tools and the inner
 * tunnel of double HBONE (`transport`: the outer tunnel); use a pool for anything repeated.
 */
export async function dial(options: OneShotDialOptions): Promise<HboneTunnel> {
  throwIfAborted(options?.signal);
  const cfg = resolveClient(options);
  const p = plan(options, options.rng);
  using scope = new DialScope(checkDuration('timeoutMs', options.timeoutMs ?? cfg.dialTimeoutMs), options.signal);
  const signal = scope.signal;
  const record = new TunnelRecord({
    direction: 'outbound',
    state: 'pending',
    authority: p.headers[':authority']!,
    requestHeaders: p.headers,
    clock: cfg.clock,
  });
  let connection: ClientConnection;
  try {
    connection = await ClientConnection.open(cfg, p, 1, signal, options.transport);
  } catch (error) {
    record.finish('error', error as Error);
    throw error;
  }
  connection.reserve();
  connection.onIdle = () => connection.drain();
  try {
    return await connection.request(record, p, signal);
  } catch (error) {
    connection.drain();
    throw error;
  }
}

/**
 * The abort signal of one dial: the caller's signal (linked by a listener removed when the dial ends), the dial
 * deadline, and the pool's closing (the scope sits in the pool's `group` while the dial is pending; a listener on the
 * pool's one long-lived signal per concurrent dial would pile up). AbortSignal.any and AbortSignal.timeout would
 * leave a weak reference and a pending timer behind for every dial.
 */
class DialScope implements Disposable {
  readonly #controller = new AbortController();
  readonly #links: Array<[AbortSignal, () => void]> = [];
  readonly #timer: NodeJS.Timeout;
  readonly #group: Set<{ abort(reason: unknown): void }> | undefined;

  constructor(timeoutMs: number, source?: AbortSignal, group?: Set<{ abort(reason: unknown): void }>) {
    if (source?.aborted) this.#controller.abort(source.reason);
    else if (source) {
      const onAbort = () => this.#controller.abort(source.reason);
      source.addEventListener('abort', onAbort, { once: true });
      this.#links.push([source, onAbort]);
    }
    this.#group = group;
    group?.add(this);
    this.#timer = setTimeout(
      () =>
        this.#controller.abort(
          new HboneError('ERR_HBONE_TIMEOUT', `the dial did not finish within ${timeoutMs} ms`, {
            details: { phase: 'dial', timeoutMs },
          }),
        ),
      timeoutMs,
    );
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    this.#controller.abort(reason);
  }

  [Symbol.dispose](): void {
    this.#group?.delete(this);
    clearTimeout(this.#timer);
    for (const [source, onAbort] of this.#links) source.removeEventListener('abort', onAbort);
    this.#links.length = 0;
  }
}
