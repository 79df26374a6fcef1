// A generic ADS server (state of the world + delta) over @grpc/grpc-js.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DeepPartial } from '@mesh/api';
import { ControlPlane } from '@mesh/api/envoy.config.core.v3';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import { abortable, systemClock, throwIfAborted, type Clock } from '@mesh/core';
import { XdsError } from '../errors.js';
import type { ResourceType } from '../resource-type.js';
import {
  Connection,
  type AuthenticateContext,
  type ConnectionHost,
  type ConnectionStatus,
  type NackEvent,
  type PushEvent,
  type RejectEvent,
  type ReplyEvent,
  type XdsConnection,
  type XdsProtocol,
} from './connection.js';
import { FrameCache } from './frames.js';
import { PushGate } from './gate.js';
import { ResourceStore, type ResourceInput, type StoredResource, type StoreUpdate } from './store.js';

export interface DebounceOptions {
  /** Quiet period: a push waits until no update came for this long. 0 pushes on the next tick. Default 10 ms. */
  delayMs?: number;
  /** Upper bound on the wait while updates keep coming. Default 100 ms. */
  maxDelayMs?: number;
}

export interface XdsServerOptions<P = unknown> {
  /**
   * Called once per stream with its first request's node, metadata and TLS peer; returns the principal that hooks
   * and diagnostics see. Throw to refuse the stream: UNAUTHENTICATED, or PERMISSION_DENIED for an XdsError with code
   * ERR_XDS_PERMISSION_DENIED.
   */
  authenticate?: (context: AuthenticateContext) => P | Promise<P>;
  /** Per-client filtering: whether `connection` may see `resource`. Call `refilter()` when its inputs change. */
  filter?: (connection: XdsConnection<P>, resource: StoredResource) => boolean;
  /** Batching of updates into pushes. */
  debounce?: DebounceOptions;
  /** Sent as `control_plane.identifier` in every response. */
  controlPlaneId?: string;
  /**
   * How many connections may have a push on the wire at once (memory stays bounded when many proxies connect
   * together). Default 8.
   */
  maxConcurrentPushes?: number;
  /** A push not flushed to a slow proxy within this time stops holding its slot. Default 10 s. */
  pushSlotTimeoutMs?: number;
  /** Options for the gRPC server `listen()` creates. */
  grpcOptions?: grpc.ServerOptions;
  clock?: Clock;
}

export interface XdsServerEvents<P> {
  /** A stream was authenticated and is now served. */
  connect: [connection: XdsConnection<P>];
  disconnect: [connection: XdsConnection<P>, reason: string];
  request: [connection: XdsConnection<P>, request: DiscoveryRequest | DeltaDiscoveryRequest];
  ack: [event: ReplyEvent<P>];
  nack: [event: NackEvent<P>];
  push: [event: PushEvent<P>];
  /** A stream was refused or closed for breaking the rules (authentication, missing node, …). */
  reject: [event: RejectEvent];
  /** A hook (filter) threw; the resource was treated as not visible. */
  hookError: [error: unknown, connection: XdsConnection<P>];
}

export interface ServerTlsOptions {
  /** PEM certificate chain of the server. */
  cert: string | Uint8Array;
  /** PEM private key. */
  key: string | Uint8Array;
  /** PEM CA bundle that client certificates must chain to (enables mutual TLS). */
  ca?: string | Uint8Array;
  /** Refuse clients without a certificate. Default: true when `ca` is set. */
  requireClientCert?: boolean;
}

export interface ListenOptions {
  /** `host:port`. Default `127.0.0.1:0` (a free loopback port). */
  address?: string;
  /** TLS from PEM data; without it (and without `credentials`) the port is plaintext. */
  tls?: ServerTlsOptions;
  /** Credentials as @grpc/grpc-js takes them (e.g. with certificate rotation); overrides `tls`. */
  credentials?: grpc.ServerCredentials;
  signal?: AbortSignal;
}

export interface CloseOptions {
  /** How long streams get to finish before connections are cut. Default 5 s. */
  graceMs?: number;
  signal?: AbortSignal;
}

/** The gRPC server options `listen()` uses unless `grpcOptions` overrides them. */
export const DEFAULT_SERVER_GRPC_OPTIONS: grpc.ServerOptions = Object.freeze({
  // A reconnecting client lists every resource it holds in initial_resource_versions.
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': -1,
  // Find dead proxies: ping after 30 s without traffic, drop after 10 s without an answer.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
});

const toBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

type AnyResponse = Uint8Array | DeepPartial<DiscoveryResponse | DeltaDiscoveryResponse>;

/** The ADS service with serializers that pass pre-encoded frames through untouched. */
function adsDefinition(): grpc.ServiceDefinition {
  const sotw = AggregatedDiscoveryServiceDefinition.streamAggregatedResources;
  const delta = AggregatedDiscoveryServiceDefinition.deltaAggregatedResources;
  return {
    streamAggregatedResources: {
      ...sotw,
      responseSerialize: (value: AnyResponse) =>
        value instanceof Uint8Array ? toBuffer(value) : sotw.responseSerialize(value as DeepPartial<DiscoveryResponse>),
    },
    deltaAggregatedResources: {
      ...delta,
      responseSerialize: (value: AnyResponse) =>
        value instanceof Uint8Array
          ? toBuffer(value)
          : delta.responseSerialize(value as DeepPartial<DeltaDiscoveryResponse>),
    },
  } as unknown as grpc.ServiceDefinition;
}

/**
 * Serves resources over ADS, state of the world and delta, to any number of proxies.
 *
 * Resources live in the server (`set`/`update`/`remove`), each encoded once. Every connection tracks its own
 * subscriptions, versions and nonces; a change is pushed, after the debounce, only to the connections that subscribe
 * to it (delta: only the changed resources; SotW: the subscribed set of that type).
 */
export class XdsServer<P = unknown> extends EventEmitter<XdsServerEvents<P>> implements AsyncDisposable {
  readonly #store = new ResourceStore();
  readonly #connections = new Map<string, Connection<P>>();
  readonly #pending = new Map<string, Set<string>>();
  readonly #options: XdsServerOptions<P>;
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #maxDelayMs: number;
  readonly #host: ConnectionHost<P>;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #firstPendingAt = 0;
  #grpcServer: grpc.Server | undefined;
  #registered = new Set<grpc.Server>();
  #ids = 0;
  #sharedNonces = 0;
  #closing: Promise<void> | undefined;

  constructor(options: XdsServerOptions<P> = {}) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#delayMs = options.debounce?.delayMs ?? 10;
    this.#maxDelayMs = Math.max(this.#delayMs, options.debounce?.maxDelayMs ?? 100);
    if (!(this.#delayMs >= 0) || !((options.maxConcurrentPushes ?? 1) >= 1)) {
      throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'debounce.delayMs must be >= 0 and maxConcurrentPushes >= 1', {
        details: { ...options.debounce, maxConcurrentPushes: options.maxConcurrentPushes },
      });
    }
    const nonceTag = randomBytes(3).toString('base64url');
    this.#host = {
      store: this.#store,
      clock: this.#clock,
      nonceTag,
      frames: new FrameCache(),
      sharedNonce: () => `${nonceTag}s${(++this.#sharedNonces).toString(36)}`,
      controlPlane: options.controlPlaneId ? ControlPlane.encode({ identifier: options.controlPlaneId }) : undefined,
      gate: new PushGate(options.maxConcurrentPushes ?? 8),
      slotTimeoutMs: options.pushSlotTimeoutMs ?? 10_000,
      authenticate: options.authenticate,
      filter: options.filter,
      opened: (connection) => {
        this.#connections.set(connection.id, connection);
        this.emit('connect', connection);
      },
      closed: (connection, reason) => {
        this.#connections.delete(connection.id);
        this.emit('disconnect', connection, reason);
      },
      request: (connection, request) => this.emit('request', connection, request),
      ack: (event) => this.emit('ack', event),
      nack: (event) => this.emit('nack', event),
      push: (event) => this.emit('push', event),
      reject: (event) => this.emit('reject', event),
      hookError: (error, connection) => this.emit('hookError', error, connection),
    };
  }

  /** Replaces every resource of `type` with `resources` (names not listed are removed). */
  set<T>(type: ResourceType<T>, resources: Iterable<ResourceInput<T>>): void {
    this.#apply(type, { set: resources }, true);
  }

  /** Adds or replaces some resources and removes others, as one change. */
  update<T>(type: ResourceType<T>, update: StoreUpdate<T>): void {
    this.#apply(type, update, false);
  }

  /** Removes resources by name. */
  remove<T>(type: ResourceType<T>, names: Iterable<string>): void {
    this.#apply(type, { remove: names }, false);
  }

  #apply<T>(type: ResourceType<T>, update: StoreUpdate<T>, replace: boolean): void {
    this.#assertOpen();
    const changed = this.#store.apply(type, update, replace);
    if (changed.size === 0) return;
    let pending = this.#pending.get(type.typeUrl);
    if (!pending) this.#pending.set(type.typeUrl, (pending = new Set()));
    for (const name of changed) pending.add(name);
    this.#schedule();
  }

  /** A resource as the server holds it. */
  get(typeUrl: string, name: string): StoredResource | undefined {
    return this.#store.type(typeUrl)?.byName.get(name);
  }

  /** Every resource of a type. */
  resources(typeUrl: string): StoredResource[] {
    return [...(this.#store.type(typeUrl)?.byName.values() ?? [])];
  }

  #schedule(): void {
    const now = this.#clock.monotonic();
    if (this.#timer === undefined) this.#firstPendingAt = now;
    else this.#clearTimer();
    if (this.#delayMs === 0) {
      this.#timer = setImmediate(() => this.flush());
      return;
    }
    const wait = Math.min(this.#delayMs, Math.max(0, this.#firstPendingAt + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer as NodeJS.Timeout);
    clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
  }

  /** Pushes pending changes now instead of at the end of the debounce. */
  flush(): void {
    this.#clearTimer();
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const connection of this.#connections.values()) {
      for (const [typeUrl, names] of pending) connection.changed(typeUrl, names);
    }
  }

  /** Whether changes are waiting for the debounce, or any connection has a push queued or blocked. */
  get busy(): boolean {
    if (this.#pending.size > 0) return true;
    for (const connection of this.#connections.values()) if (connection.busy) return true;
    return false;
  }

  /** Re-evaluates the filter for one connection (by id) or for all of them. */
  refilter(connectionId?: string): void {
    for (const connection of this.#connections.values()) {
      if (connectionId === undefined || connection.id === connectionId) connection.refilter();
    }
  }

  /** The connected proxies. */
  connections(): XdsConnection<P>[] {
    return [...this.#connections.values()];
  }

  /** Every connection with its per-type sync state: the data behind istiod's `/debug/syncz`. */
  status(): ConnectionStatus[] {
    return [...this.#connections.values()].map((c) => c.status());
  }

  /** Closes one proxy's stream (UNAVAILABLE by default, so it reconnects, possibly elsewhere). */
  disconnect(
    connectionId: string,
    code: grpc.status = grpc.status.UNAVAILABLE,
    details = 'disconnected by the server',
  ) {
    this.#connections.get(connectionId)?.end(code, details);
  }

  /** Adds the ADS service to a gRPC server you run (e.g. one that also serves the CA). */
  register(server: grpc.Server): void {
    this.#assertOpen();
    if (this.#registered.has(server)) return;
    const handle = (protocol: XdsProtocol) => (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      if (this.#closing) {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'the xDS server is shutting down' });
        return;
      }
      new Connection<P>(`${++this.#ids}`, protocol, call as never, this.#host);
    };
    server.addService(adsDefinition(), {
      streamAggregatedResources: handle('sotw') as grpc.handleBidiStreamingCall<unknown, unknown>,
      deltaAggregatedResources: handle('delta') as grpc.handleBidiStreamingCall<unknown, unknown>,
    });
    this.#registered.add(server);
  }

  /**
   * Listens on a port (several calls: several ports, e.g. plaintext 15010 and TLS 15012).
   * @returns the bound port (useful with port 0) and `host:port`.
   */
  async listen(options: ListenOptions = {}): Promise<{ port: number; address: string }> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    const address = options.address ?? '127.0.0.1:0';
    if (!this.#grpcServer) {
      this.#grpcServer = new grpc.Server({ ...DEFAULT_SERVER_GRPC_OPTIONS, ...this.#options.grpcOptions });
      this.register(this.#grpcServer);
    }
    const server = this.#grpcServer;
    const credentials = options.credentials ?? serverCredentials(options.tls);
    const port = await abortable(
      new Promise<number>((resolve, reject) =>
        server.bindAsync(address, credentials, (error, port) =>
          error
            ? reject(
                new XdsError('ERR_XDS_INVALID_OPTIONS', `cannot listen on ${address}: ${error.message}`, {
                  cause: error,
                  details: { address },
                }),
              )
            : resolve(port),
        ),
      ),
      options.signal,
    );
    const host = address.slice(0, address.lastIndexOf(':'));
    return { port, address: `${host}:${port}` };
  }

  /**
   * Stops serving: new streams are refused, open ones end with UNAVAILABLE so proxies reconnect (to another replica),
   * and the server `listen()` created shuts down, cutting connections that outlive the grace period.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options);
    return this.#closing;
  }

  async #close({ graceMs = 5_000, signal }: CloseOptions): Promise<void> {
    this.#clearTimer();
    this.#pending.clear();
    for (const connection of [...this.#connections.values()]) {
      connection.end(grpc.status.UNAVAILABLE, 'the xDS server is shutting down');
    }
    const server = this.#grpcServer;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const force = () => {
        server.forceShutdown();
        resolve();
      };
      const timer = setTimeout(force, graceMs);
      signal?.addEventListener('abort', force, { once: true });
      server.tryShutdown(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', force);
        resolve();
      });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closing) throw new XdsError('ERR_XDS_CLOSED', 'the xDS server is closed');
  }

  /** @internal For @mesh/xds/testing: the live connection object. */
  connectionById(id: string): Connection<P> | undefined {
    return this.#connections.get(id);
  }
}

function serverCredentials(tls: ServerTlsOptions | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const buf = (pem: string | Uint8Array) => (typeof pem === 'string' ? Buffer.from(pem) : toBuffer(pem));
  const requireClientCert = tls.requireClientCert ?? tls.ca !== undefined;
  if (requireClientCert && !tls.ca) {
    throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'tls.requireClientCert needs tls.ca to verify client certificates');
  }
  return grpc.ServerCredentials.createSsl(
    tls.ca ? buf(tls.ca) : null,
    [{ cert_chain: buf(tls.cert), private_key: buf(tls.key) }],
    requireClientCert,
  );
}
