// What client and server connections share: the ConnectionRecord (the HboneConnectionInfo published on the
// diagnostics channels), PING keepalive, the SVID → node:tls SecureContext cache and peer verification by SPIFFE ID.
import type { Http2Session } from 'node:http2';
import { createSecureContext, type SecureContext } from 'node:tls';
import { systemClock, type Clock } from '@mesh/core';
import {
  createPeerVerifier,
  type PeerCertificateLike,
  type PeerVerifier,
  type SpiffeId,
  type TrustDomain,
  type X509Bundle,
  type X509BundleSource,
  X509Svid,
} from '@mesh/spiffe';
import {
  channels,
  type ConnectionErrorMessage,
  type ConnectionState,
  type HboneConnectionInfo,
  type Side,
} from './diagnostics.js';
import { HboneError } from './errors.js';
import type { ResolvedKeepalive, TlsOptions } from './options.js';
import { tlsVersionOptions } from './options.js';

let lastConnectionId = 0;

/** `::ffff:10.0.0.1` → `10.0.0.1` (dual-stack sockets report IPv4 peers as v4-mapped). */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class ConnectionRecord implements HboneConnectionInfo {
  readonly id = ++lastConnectionId;
  readonly side: Side;
  state: ConnectionState = 'connecting';
  localAddress = '';
  localPort = 0;
  remoteAddress = '';
  remotePort = 0;
  localIdentity = '';
  peerIdentity: string | undefined;
  readonly startedAt: number;
  activeTunnels = 0;
  totalTunnels = 0;
  error: Error | undefined;
  #opened = false;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(side: Side, clock: Clock = systemClock) {
    this.side = side;
    this.startedAt = clock.now();
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  setAddresses(socket: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number }) {
    this.localAddress = plainAddress(socket.localAddress) || this.localAddress;
    this.localPort = socket.localPort ?? this.localPort;
    this.remoteAddress = plainAddress(socket.remoteAddress) || this.remoteAddress;
    this.remotePort = socket.remotePort ?? this.remotePort;
  }

  markOpen(): void {
    this.state = 'open';
    this.#opened = true;
    if (channels.connectionOpen.hasSubscribers) channels.connectionOpen.publish({ connection: this });
  }

  markDraining(): void {
    if (this.state === 'open') this.state = 'draining';
  }

  /** A failure before open: publishes connection:error and closes the record. */
  fail(phase: ConnectionErrorMessage['phase'], error: Error): void {
    if (this.state === 'closed') return;
    this.error ??= error;
    if (!this.#opened) {
      this.state = 'closed';
      if (channels.connectionError.hasSubscribers)
        channels.connectionError.publish({ connection: this, phase, error } satisfies ConnectionErrorMessage);
      this.#resolveClosed();
    }
  }

  /** The connection is gone: publishes connection:close (when it had opened). */
  finish(error?: Error): void {
    if (this.state === 'closed') return;
    if (error) this.error ??= error;
    this.state = 'closed';
    if (this.#opened && channels.connectionClose.hasSubscribers) channels.connectionClose.publish({ connection: this });
    this.#resolveClosed();
  }
}

/**
 * PING keepalive as ztunnel does it: the first PING `intervalMs` after start, the next `intervalMs` after each answer;
 * `onTimeout` when an answer takes longer than `timeoutMs`. Timers are unref'd. Returns a stop function.
 */
export function startKeepalive(session: Http2Session, keepalive: ResolvedKeepalive, onTimeout: () => void): () => void {
  let interval: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    interval = setTimeout(() => {
      if (stopped || session.destroyed || session.closed) return;
      deadline = setTimeout(() => {
        if (!stopped) onTimeout();
      }, keepalive.timeoutMs);
      deadline.unref();
      try {
        session.ping((error) => {
          clearTimeout(deadline);
          if (!error) schedule();
        });
      } catch {
        clearTimeout(deadline);
      }
    }, keepalive.intervalMs);
    interval.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(interval);
    clearTimeout(deadline);
  };
}

/** Checks what a certificate provider returned. */
export function checkSvid(value: unknown): X509Svid {
  if (!(value instanceof X509Svid))
    throw new HboneError('ERR_HBONE_CERTIFICATE', 'the certificate provider did not return an X509Svid');
  if (!value.privateKey)
    throw new HboneError('ERR_HBONE_CERTIFICATE', `the SVID of ${value.id.toString()} has no private key`);
  return value;
}

/** Calls a certificate provider and wraps anything it throws as ERR_HBONE_CERTIFICATE. */
export async function fetchSvid<C>(
  provider: (context: C) => X509Svid | Promise<X509Svid>,
  context: C,
): Promise<X509Svid> {
  let result: unknown;
  try {
    result = await provider(context);
  } catch (error) {
    if (error instanceof HboneError) throw error;
    throw new HboneError(
      'ERR_HBONE_CERTIFICATE',
      `the certificate provider failed: ${String((error as Error)?.message ?? error)}`,
      {
        cause: error,
      },
    );
  }
  return checkSvid(result);
}

interface ContextEntry {
  readonly bundles: ReadonlyArray<X509Bundle | undefined>;
  readonly context: SecureContext;
}

/**
 * SecureContexts per (SVID, trusted trust domains), rebuilt when the SVID object or one of the trust bundles changes
 * (bundles are immutable objects in a live X509BundleSource). Building a context parses keys and certificates, so
 * connections must not pay for it each time.
 */
export class SecureContextCache {
  readonly #byId = new WeakMap<X509Svid, Map<string, ContextEntry>>();
  readonly #bundles: X509BundleSource;
  readonly #tls: TlsOptions;

  constructor(bundles: X509BundleSource, tls: TlsOptions = {}) {
    this.#bundles = bundles;
    this.#tls = tls;
  }

  get(svid: X509Svid, trustDomains: readonly TrustDomain[]): SecureContext {
    const key = trustDomains.map((td) => td.name).join(' ');
    const bundles = trustDomains.map((td) => this.#bundles.getX509Bundle(td));
    let perSvid = this.#byId.get(svid);
    const cached = perSvid?.get(key);
    if (cached && cached.bundles.every((b, i) => b === bundles[i])) return cached.context;
    const ca = bundles.flatMap((b) => (b ? b.authorities.map((c) => c.toPem()) : []));
    if (ca.length === 0)
      throw new HboneError(
        'ERR_HBONE_CERTIFICATE',
        `no trust bundle for ${trustDomains.map((td) => td.name).join(', ')}: cannot verify peers`,
      );
    const context = createSecureContext({
      cert: svid.chainPem(),
      key: svid.keyPem(),
      ca,
      ...tlsVersionOptions(this.#tls),
    });
    if (!perSvid) {
      perSvid = new Map();
      this.#byId.set(svid, perSvid);
    }
    if (perSvid.size > 64) perSvid.clear();
    perSvid.set(key, { bundles, context });
    return context;
  }
}

/** Verifies a TLS peer and turns SPIFFE failures into HBONE errors (identity mismatch vs untrusted). */
export function verifyPeer(verifier: PeerVerifier, peer: PeerCertificateLike | null | undefined): SpiffeId {
  try {
    return verifier.verify(peer).id;
  } catch (error) {
    throw peerError(error);
  }
}

export function peerError(error: unknown): HboneError {
  if (error instanceof HboneError) return error;
  const code = (error as { code?: string })?.code;
  const message = (error as Error)?.message ?? String(error);
  if (code === 'ERR_SPIFFE_UNEXPECTED_ID')
    return new HboneError('ERR_HBONE_IDENTITY_MISMATCH', message, { cause: error });
  return new HboneError('ERR_HBONE_UNTRUSTED_PEER', `the peer certificate is not a trusted SVID: ${message}`, {
    cause: error,
  });
}

export { createPeerVerifier };
