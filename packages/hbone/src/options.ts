// HTTP/2, keepalive and TLS options with ztunnel's defaults (reference: ambient-dataplane.md §2.4-§2.5), validated
// once and turned into node:http2 / node:tls option objects.
import type { SecureContextOptions } from 'node:tls';
import type { Settings } from 'node:http2';
import { HboneError } from './errors.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** HTTP/2 settings of one side. Every field is optional; defaults are ztunnel's. */
export interface Http2Options {
  /**
   * Initial flow-control window of each stream we receive on (SETTINGS_INITIAL_WINDOW_SIZE).
   * Default 4 MiB — ztunnel `HTTP2_STREAM_WINDOW_SIZE`, Envoy `initial_stream_window_size`.
   */
  streamWindowSize?: number;
  /**
   * Flow-control window of the whole connection (raised with a WINDOW_UPDATE on stream 0).
   * Default 16 MiB — ztunnel `HTTP2_CONNECTION_WINDOW_SIZE`, Envoy `initial_connection_window_size`.
   */
  connectionWindowSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept. Default 1 MiB — ztunnel `HTTP2_FRAME_SIZE`. */
  maxFrameSize?: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE we accept. Default 16 KiB on clients, 64 KiB on servers — ztunnel's h2 builders,
   * Envoy `max_request_headers_kb`.
   */
  maxHeaderListSize?: number;
  /**
   * Servers: SETTINGS_MAX_CONCURRENT_STREAMS we advertise. Default 200 — ztunnel's inbound (hyper's default),
   * Envoy `max_concurrent_streams`. Clients: the limit assumed for the peer until its SETTINGS arrive (Node's
   * `peerMaxConcurrentStreams`), default 100 — ztunnel `POOL_MAX_STREAMS_PER_CONNECTION`.
   */
  maxConcurrentStreams?: number;
  /**
   * Node's `maxSessionMemory` in MiB: the memory one connection may hold in nghttp2 before new streams are refused.
   * Default 32 (Node's own default of 10 is below one connection window). No ztunnel equivalent.
   */
  maxSessionMemoryMiB?: number;
}

export type ResolvedHttp2Options = Required<Http2Options>;

/** HTTP/2 PING keepalive. Defaults are ztunnel's (fixed there) and Envoy's waypoint `connection_keepalive`. */
export interface KeepaliveOptions {
  /** First PING this long after the connection opens, then this long after each answer. Default 10 000 ms. */
  intervalMs?: number;
  /** Close the connection when a PING is not answered within this. Default 20 000 ms. */
  timeoutMs?: number;
}

export type ResolvedKeepalive = Required<KeepaliveOptions>;

/** TLS knobs. Defaults are ztunnel's rustls configuration. */
export interface TlsOptions {
  /** Also accept TLS 1.2 (ECDHE with AES-GCM). Default false — ztunnel `TLS12_ENABLED`. */
  allowTls12?: boolean;
  /**
   * OpenSSL cipher string (TLS 1.3 suite names and TLS 1.2 ciphers). Default
   * `TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256` (+ ECDHE-ECDSA/RSA-AES256/128-GCM with TLS 1.2) — ztunnel's
   * rustls provider list, no ChaCha20.
   */
  ciphers?: string;
  /** Key-exchange groups. Default `X25519:P-256:P-384` — the rustls provider default. */
  ecdhCurve?: string;
}

export const DEFAULT_TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
export const DEFAULT_TLS12_CIPHERS =
  'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256';

function bad(message: string): HboneError {
  return new HboneError('ERR_HBONE_BAD_OPTIONS', message);
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw bad(`${name} must be an integer in ${min}-${max}, got ${String(value)}`);
  return value;
}

export function checkDuration(name: string, value: number, min = 1): number {
  if (typeof value !== 'number' || !(value >= min) || !Number.isFinite(value))
    throw bad(`${name} must be a finite number of milliseconds ≥ ${min}, got ${String(value)}`);
  return value;
}

export function resolveHttp2(side: 'client' | 'server', options: Http2Options = {}): ResolvedHttp2Options {
  const maxWindow = 2 ** 31 - 1;
  return {
    streamWindowSize: checkInteger('http2.streamWindowSize', options.streamWindowSize ?? 4 * MiB, 65_535, maxWindow),
    connectionWindowSize: checkInteger(
      'http2.connectionWindowSize',
      options.connectionWindowSize ?? 16 * MiB,
      65_535,
      maxWindow,
    ),
    maxFrameSize: checkInteger('http2.maxFrameSize', options.maxFrameSize ?? MiB, 16_384, 16_777_215),
    maxHeaderListSize: checkInteger(
      'http2.maxHeaderListSize',
      options.maxHeaderListSize ?? (side === 'client' ? 16 * KiB : 64 * KiB),
      1024,
      2 ** 32 - 1,
    ),
    maxConcurrentStreams: checkInteger(
      'http2.maxConcurrentStreams',
      options.maxConcurrentStreams ?? (side === 'client' ? 100 : 200),
      1,
      2 ** 31 - 1,
    ),
    maxSessionMemoryMiB: checkInteger('http2.maxSessionMemoryMiB', options.maxSessionMemoryMiB ?? 32, 1, 4096),
  };
}

export function resolveKeepalive(options: KeepaliveOptions = {}): ResolvedKeepalive {
  const intervalMs = checkDuration('keepalive.intervalMs', options.intervalMs ?? 10_000);
  const timeoutMs = checkDuration('keepalive.timeoutMs', options.timeoutMs ?? 20_000);
  return { intervalMs, timeoutMs };
}

/** The SETTINGS frame a side sends. */
export function http2Settings(side: 'client' | 'server', h2: ResolvedHttp2Options): Settings {
  return {
    initialWindowSize: h2.streamWindowSize,
    maxFrameSize: h2.maxFrameSize,
    maxHeaderListSize: h2.maxHeaderListSize,
    enablePush: false,
    ...(side === 'server' ? { maxConcurrentStreams: h2.maxConcurrentStreams } : {}),
  };
}

/** The node:tls options both sides share: versions, ciphers, groups. */
export function tlsVersionOptions(
  options: TlsOptions = {},
): Pick<SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve'> {
  const allowTls12 = options.allowTls12 ?? false;
  return {
    minVersion: allowTls12 ? 'TLSv1.2' : 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers:
      options.ciphers ?? (allowTls12 ? `${DEFAULT_TLS13_CIPHERS}:${DEFAULT_TLS12_CIPHERS}` : DEFAULT_TLS13_CIPHERS),
    ecdhCurve: options.ecdhCurve ?? 'X25519:P-256:P-384',
  };
}
