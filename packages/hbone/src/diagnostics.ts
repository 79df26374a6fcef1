// Observability without a metrics dependency: node:diagnostics_channel events that apps turn into Prometheus metrics
// (istio_tcp_connections_opened_total, …_closed_total, istio_tcp_sent/received_bytes_total) and access logs
// ("connection complete" with src.addr, dst.hbone_addr, src.identity, bytes_sent, bytes_recv, duration; see
// ambient-dataplane.md §6). Publishing costs nothing while nobody subscribes.
import diagnostics from 'node:diagnostics_channel';

/** Which end of an HBONE connection we are. */
export type Side = 'client' | 'server';

/**
 * A connection's life (client side: one pooled or dedicated HBONE connection; server side: one accepted one):
 *
 *   connecting ─► handshaking ─► open ─► draining ─► closed
 *        │              │          │                  ▲
 *        └──────────────┴──────────┴──── (error) ─────┘
 *
 * - `connecting`: TCP connect (client) or waiting for the certificate provider (server).
 * - `handshaking`: TLS 1.3 + ALPN h2 + SPIFFE identity check, then the HTTP/2 preface and SETTINGS.
 * - `open`: carries tunnels. A client pool picks it while it has fewer than its stream limit.
 * - `draining`: GOAWAY sent or received, or idle release: no new tunnels, open ones finish.
 * - `closed`: gone; `error` says why when it was not a clean close.
 */
export type ConnectionState = 'connecting' | 'handshaking' | 'open' | 'draining' | 'closed';

/** A live view of one HBONE connection (a TLS + HTTP/2 session). Fields change as the connection lives. */
export interface HboneConnectionInfo {
  /** Unique within the process. */
  readonly id: number;
  readonly side: Side;
  readonly state: ConnectionState;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Our SPIFFE ID (from the certificate we presented); empty until the certificate is known. */
  readonly localIdentity: string;
  /** The peer's verified SPIFFE ID; undefined until the handshake verified it. */
  readonly peerIdentity: string | undefined;
  /** Wall-clock ms when the connection was accepted or dialed. */
  readonly startedAt: number;
  /** Tunnels open on it now, and ever. */
  readonly activeTunnels: number;
  readonly totalTunnels: number;
  /** Why it closed, when it closed because of an error (a MeshError with an ERR_HBONE_* code). */
  readonly error: Error | undefined;
  /** Resolves once the connection is closed (after connection:close or connection:error was published). */
  readonly closed: Promise<void>;
}

/**
 * A tunnel's life (one CONNECT stream):
 *
 *   client: pending ─► requested ─► open ─► closed
 *   server: requested ─► connecting ─► open ─► closed      (connecting: a `forward` decision dialing its target)
 *
 * Any state may end in `closed` early; `outcome` then says whether it was `refused` (status ≠ 200), `reset`
 * (RST_STREAM or a TCP reset on either side) or `error` (connect/handshake/connection failure).
 * - `pending`: waiting for a pooled connection (client).
 * - `requested`: CONNECT sent (client) or received and handed to the handler (server).
 * - `open`: 200 sent/received; bytes flow both ways, each direction ends on its own (half-close).
 */
export type TunnelState = 'pending' | 'requested' | 'connecting' | 'open' | 'closed';

/** How a tunnel ended. */
export type TunnelOutcome = 'complete' | 'refused' | 'reset' | 'error';

/** A live view of one tunnel. */
export interface HboneTunnelInfo {
  /** Unique within the process. */
  readonly id: number;
  /** `outbound` on the client (we dialed), `inbound` on the server. */
  readonly direction: 'outbound' | 'inbound';
  readonly state: TunnelState;
  /** The connection carrying it; undefined for a client tunnel still waiting for one. */
  readonly connection: HboneConnectionInfo | undefined;
  /** The CONNECT :authority (canonical text): ztunnel's `dst.hbone_addr`. */
  readonly authority: string;
  /** The CONNECT request headers as sent (client) or received (server). */
  readonly requestHeaders: Readonly<Record<string, string | readonly string[] | number | undefined>>;
  /** The CONNECT response headers: as received (client) or sent (server); undefined until answered. */
  readonly responseHeaders: Readonly<Record<string, string | readonly string[] | number | undefined>> | undefined;
  /** The response status, once known. */
  readonly status: number | undefined;
  /** Server, `forward` decisions: the address actually dialed (`ip:port`). */
  readonly target: string | undefined;
  /** Bytes carried so far: sent into the tunnel by us, and received from it. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Wall-clock ms when the tunnel was requested, and when it closed. */
  readonly startedAt: number;
  readonly closedAt: number | undefined;
  readonly outcome: TunnelOutcome | undefined;
  /** Why it failed or was refused/reset (a MeshError with an ERR_HBONE_* code). */
  readonly error: Error | undefined;
  /** Resolves once the tunnel is closed (after tunnel:close was published). */
  readonly closed: Promise<void>;
}

export interface ConnectionMessage {
  readonly connection: HboneConnectionInfo;
}

/** A connection that failed before it opened (TCP, TLS, identity or HTTP/2 preface). */
export interface ConnectionErrorMessage {
  readonly connection: HboneConnectionInfo;
  /** Which step failed. */
  readonly phase: 'connect' | 'tls' | 'identity' | 'http2' | 'certificate';
  readonly error: Error;
}

export interface TunnelMessage {
  readonly tunnel: HboneTunnelInfo;
}

/** Channel names, stable: `mesh:hbone:<area>:<event>`. */
export const CHANNEL_NAMES = Object.freeze({
  connectionOpen: 'mesh:hbone:connection:open',
  connectionClose: 'mesh:hbone:connection:close',
  connectionError: 'mesh:hbone:connection:error',
  tunnelOpen: 'mesh:hbone:tunnel:open',
  tunnelClose: 'mesh:hbone:tunnel:close',
});

/**
 * The channels. Messages:
 * - `connection:open` {@link ConnectionMessage}: TLS done, peer identity verified, HTTP/2 up.
 * - `connection:close` {@link ConnectionMessage}: an open connection closed (`connection.error` when abnormal).
 * - `connection:error` {@link ConnectionErrorMessage}: a connection failed before it opened.
 * - `tunnel:open` {@link TunnelMessage}: a CONNECT was answered 200.
 * - `tunnel:close` {@link TunnelMessage}: every tunnel that was requested, exactly once, with bytes, outcome, status.
 */
export const channels = Object.freeze({
  connectionOpen: diagnostics.channel(CHANNEL_NAMES.connectionOpen),
  connectionClose: diagnostics.channel(CHANNEL_NAMES.connectionClose),
  connectionError: diagnostics.channel(CHANNEL_NAMES.connectionError),
  tunnelOpen: diagnostics.channel(CHANNEL_NAMES.tunnelOpen),
  tunnelClose: diagnostics.channel(CHANNEL_NAMES.tunnelClose),
});

/**
 * Istio's `response_flags` for a closed tunnel or failed connection (ambient-dataplane.md §6): `-` on success,
 * `DENY` (401), `CONNECT` (the destination could not be reached / 503), `TLS_FAILURE`, `H2_HANDSHAKE_FAILURE`,
 * `NETWORK_POLICY` (timeout dialing HBONE), `IDENTITY_ERROR`.
 */
export function responseFlags(event: {
  readonly error?: Error | undefined;
  readonly status?: number | undefined;
}): '-' | 'DENY' | 'CONNECT' | 'TLS_FAILURE' | 'H2_HANDSHAKE_FAILURE' | 'NETWORK_POLICY' | 'IDENTITY_ERROR' {
  const error = event.error as (Error & { code?: string; details?: Record<string, unknown> }) | undefined;
  const status = event.status ?? (error?.details?.status as number | undefined);
  if (status === 401 || status === 403) return 'DENY';
  if (status === 503) return 'CONNECT';
  switch (error?.code) {
    case undefined:
      return '-';
    case 'ERR_HBONE_TIMEOUT':
      return error.details?.phase === 'connect' ? 'NETWORK_POLICY' : 'CONNECT';
    case 'ERR_HBONE_HANDSHAKE_FAILED':
      return error.details?.phase === 'http2' ? 'H2_HANDSHAKE_FAILURE' : 'TLS_FAILURE';
    case 'ERR_HBONE_UNTRUSTED_PEER':
      return 'TLS_FAILURE';
    case 'ERR_HBONE_IDENTITY_MISMATCH':
    case 'ERR_HBONE_CERTIFICATE':
      return 'IDENTITY_ERROR';
    case 'ERR_HBONE_CONNECT_FAILED':
      return 'CONNECT';
    default:
      return '-';
  }
}
