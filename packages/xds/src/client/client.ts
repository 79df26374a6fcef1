// An ADS client (delta or state of the world) with typed subscriptions, reconnects and diagnostics.
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { toStruct, type DeepPartial, type JsonValue } from '@mesh/api';
import type { Node } from '@mesh/api/envoy.config.core.v3';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import { abortError, deadline, sleep, systemClock, systemRng, type Clock, type Rng } from '@mesh/core';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { XdsError } from '../errors.js';
import type { ResourceType } from '../resource-type.js';
import type { XdsProtocol } from '../server/connection.js';
import { processDelta, processSotw } from './process.js';
import {
  internals,
  Subscription,
  type ClientNack,
  type SubscriptionHost,
  type SubscriptionStatus,
  type WaitOptions,
} from './subscription.js';

/** Who the client is, as the control plane sees it (`envoy.config.core.v3.Node`). */
export interface NodeOptions {
  /** Istio: `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local` (see `istioNodeId`). */
  id: string;
  cluster?: string;
  /** Node metadata (Istio reads NAME, NAMESPACE, INSTANCE_IPS, CLUSTER_ID, NODE_NAME, …). */
  metadata?: Record<string, JsonValue>;
  locality?: { region?: string; zone?: string; subZone?: string };
  /** Default `mesh`. */
  userAgentName?: string;
  userAgentVersion?: string;
  clientFeatures?: string[];
}

/** TLS to the control plane, as PEM data. */
export interface ClientTlsOptions {
  /** CA bundle to verify the server with. Default: the system roots. */
  ca?: string | Uint8Array;
  /** Client certificate chain (mutual TLS). */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** The name to verify the server certificate against, when it differs from the target host (e.g. `istiod.istio-system.svc`). */
  serverName?: string;
}

/** A bearer token: a value, a file re-read on every connect (projected tokens rotate), or a function. */
export type TokenSource = string | { file: string } | (() => string | Promise<string>);

export interface XdsClientOptions {
  /** The control plane: a gRPC target such as `istiod.istio-system.svc:15012`, `127.0.0.1:15010` or `unix:///path`. */
  server: string;
  /** Default `delta`. */
  protocol?: XdsProtocol;
  node: NodeOptions;
  /** TLS as data, or a function called on every connect (rotating certificates). Without it: plaintext. */
  tls?: ClientTlsOptions | (() => ClientTlsOptions | Promise<ClientTlsOptions>);
  /** Channel credentials as @grpc/grpc-js takes them; overrides `tls`. */
  credentials?: grpc.ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on every stream. */
  token?: TokenSource;
  /** Extra stream metadata, e.g. `{ clusterid: 'Kubernetes' }`. */
  metadata?: Record<string, string>;
  backoff?: BackoffOptions;
  /** Give up a connection attempt that is not established within this time. Default 10 s. */
  connectTimeoutMs?: number;
  /** Merged over the defaults (200 MiB receive limit as ztunnel, keepalive 30 s / 10 s). */
  channelOptions?: grpc.ChannelOptions;
  clock?: Clock;
  rng?: Rng;
  /** Aborting it closes the client. */
  signal?: AbortSignal;
}

export interface SubscribeOptions {
  /**
   * Names or alias keys to subscribe to; `*` is the wildcard. Default: `['*']` for wildcard types (Listener,
   * Cluster, Istio's types), none for the others. `[]` subscribes to nothing yet (on-demand: use `lookup()`).
   */
  names?: Iterable<string>;
}

export interface ClientReplyEvent {
  typeUrl: string;
  nonce: string;
  version: string;
}

export interface ClientNackEvent extends ClientReplyEvent {
  message: string;
  errors: readonly XdsError[];
}

export interface XdsClientEvents {
  /** The transport to the control plane is up (a stream is open). */
  connected: [info: { server: string; attempt: number }];
  /** The stream ended; the client retries after `reconnectInMs` and keeps its state meanwhile. */
  disconnected: [info: { error: XdsError; reconnectInMs: number }];
  ack: [event: ClientReplyEvent];
  nack: [event: ClientNackEvent];
  /** A subscription's `onChange` listener threw. */
  listenerError: [error: unknown, typeUrl: string];
}

/** The client's diagnostics (config_dump). */
export interface ClientSnapshot {
  server: string;
  protocol: XdsProtocol;
  nodeId: string;
  connected: boolean;
  /** Epoch ms of the current connection. */
  connectedAt: number | null;
  /** Connection attempts that failed or ended so far. */
  disconnects: number;
  lastError: { code: string; message: string; at: number } | null;
  subscriptions: SubscriptionStatus[];
}

export interface ConfigDump extends ClientSnapshot {
  /** type URL → resources in proto3 JSON form. */
  resources: Record<string, Array<{ name: string; version: string; aliases: string[]; resource: unknown }>>;
}

/** The @grpc/grpc-js channel options the client uses unless `channelOptions` overrides them. */
export const DEFAULT_CLIENT_CHANNEL_OPTIONS: grpc.ChannelOptions = Object.freeze({
  'grpc.max_receive_message_length': 200 * 1024 * 1024,
  'grpc.max_send_message_length': -1,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.enable_retries': 0,
});

type Request = DeepPartial<DiscoveryRequest | DeltaDiscoveryRequest>;
type Response = DiscoveryResponse | DeltaDiscoveryResponse;

interface ActiveStream {
  readonly call: grpc.ClientDuplexStream<Request, Response>;
  nodeSent: boolean;
  /** SotW: the latest nonce per type (nonces do not outlive a stream). */
  readonly nonces: Map<string, string>;
  /** Types this stream asked for (a late response for one we dropped is ACKed, not NACKed). */
  readonly requested: Set<string>;
}

const NACK_CODE = 3; // google.rpc.Code INVALID_ARGUMENT
const buf = (pem: string | Uint8Array) => (typeof pem === 'string' ? Buffer.from(pem) : Buffer.from(pem));

function statusError(status: grpc.StatusObject): XdsError {
  const details = { code: status.code, details: status.details };
  if (status.code === grpc.status.UNAUTHENTICATED) {
    return new XdsError('ERR_XDS_UNAUTHENTICATED', `the control plane refused the stream: ${status.details}`, {
      details,
    });
  }
  if (status.code === grpc.status.PERMISSION_DENIED) {
    return new XdsError('ERR_XDS_PERMISSION_DENIED', `the control plane denied the stream: ${status.details}`, {
      details,
    });
  }
  const what = status.code === grpc.status.OK ? 'the control plane ended the stream' : 'the xDS stream failed';
  return new XdsError('ERR_XDS_STREAM', `${what}: ${grpc.status[status.code]} ${status.details}`, { details });
}

/**
 * One ADS stream to a control plane carrying every subscription, kept alive across failures: reconnects with
 * exponential backoff and jitter, re-reads the token and TLS material on each connect, resubscribes with what it
 * holds (delta `initial_resource_versions`), and keeps serving the last good state while disconnected.
 */
export class XdsClient extends EventEmitter<XdsClientEvents> implements AsyncDisposable {
  readonly #options: XdsClientOptions;
  readonly #protocol: XdsProtocol;
  readonly #node: DeepPartial<Node>;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #subscriptions = new Map<string, Subscription<unknown>>();
  readonly #closer = new AbortController();
  readonly #host: SubscriptionHost;
  #stream: ActiveStream | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #connectedAt: number | null = null;
  #disconnects = 0;
  #lastError: ClientSnapshot['lastError'] = null;

  constructor(options: XdsClientOptions) {
    super();
    if (!options?.server) throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'XdsClient needs a server target');
    if (!options.node?.id) throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'XdsClient needs node.id');
    const protocol = options.protocol ?? 'delta';
    if (protocol !== 'delta' && protocol !== 'sotw') {
      throw new XdsError('ERR_XDS_INVALID_OPTIONS', `protocol must be "delta" or "sotw", not "${String(protocol)}"`);
    }
    this.#options = options;
    this.#protocol = protocol;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff, options.rng ?? systemRng);
    const { node } = options;
    this.#node = {
      id: node.id,
      cluster: node.cluster ?? '',
      metadata: node.metadata ? toStruct(node.metadata) : undefined,
      locality: node.locality,
      userAgentName: node.userAgentName ?? 'mesh',
      userAgentVersion: node.userAgentVersion,
      clientFeatures: node.clientFeatures ?? [],
    };
    this.#host = {
      clock: this.#clock,
      interestChanged: (subscription, added, removed) => this.#interestChanged(subscription, added, removed),
      released: (subscription) => this.#released(subscription),
    };
    if (options.signal?.aborted) this.#closed = true;
    else options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  get protocol(): XdsProtocol {
    return this.#protocol;
  }

  /** Whether a stream is open right now. */
  get connected(): boolean {
    return this.#connectedAt !== null;
  }

  /**
   * Subscribes to a resource type (one subscription per type and client). The connection starts with the first
   * subscription; subscriptions created in the same tick share the first request batch.
   */
  subscribe<T>(type: ResourceType<T>, options: SubscribeOptions = {}): Subscription<T> {
    if (this.#closed) throw new XdsError('ERR_XDS_CLOSED', 'the xDS client is closed');
    if (this.#subscriptions.has(type.typeUrl)) {
      throw new XdsError('ERR_XDS_DUPLICATE_SUBSCRIPTION', `already subscribed to ${type.typeUrl}`, {
        details: { typeUrl: type.typeUrl },
      });
    }
    const subscription = new Subscription<T>(type, options.names, this.#host);
    subscription.onListenerError = (error) => this.emit('listenerError', error, type.typeUrl);
    this.#subscriptions.set(type.typeUrl, subscription as Subscription<unknown>);
    if (this.#stream) this.#sendInitial(this.#stream, subscription as Subscription<unknown>);
    this.#running ??= this.#run();
    return subscription;
  }

  /** Resolves when every subscription has had its first response (the readiness gate). */
  async ready(options: WaitOptions = {}): Promise<void> {
    await Promise.all([...this.#subscriptions.values()].map((s) => s.ready(options)));
  }

  snapshot(): ClientSnapshot {
    return {
      server: this.#options.server,
      protocol: this.#protocol,
      nodeId: this.#options.node.id,
      connected: this.connected,
      connectedAt: this.#connectedAt,
      disconnects: this.#disconnects,
      lastError: this.#lastError && { ...this.#lastError },
      subscriptions: [...this.#subscriptions.values()].map((s) => s.status()),
    };
  }

  /** The snapshot plus every resource in proto3 JSON form. */
  configDump(): ConfigDump {
    const resources: ConfigDump['resources'] = {};
    for (const subscription of this.#subscriptions.values()) {
      resources[subscription.typeUrl] = [...subscription.values()]
        .map((r) => ({
          name: r.name,
          version: r.version,
          aliases: [...r.aliases],
          resource: subscription.type.toJson(r.resource),
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    return { ...this.snapshot(), resources };
  }

  /** Closes the stream and every subscription (their iterators end). */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closer.abort();
      this.#stream?.call.cancel();
      for (const subscription of [...this.#subscriptions.values()]) subscription.close();
    }
    await this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(): Promise<void> {
    // Let subscriptions created in the same tick join the first request batch.
    await new Promise((resolve) => setImmediate(resolve));
    for (let attempt = 1; !this.#closed; attempt++) {
      let error: XdsError;
      try {
        error = await this.#attempt(attempt);
      } catch (caught) {
        error =
          caught instanceof XdsError
            ? caught
            : new XdsError('ERR_XDS_STREAM', `cannot open the xDS stream: ${String(caught)}`, { cause: caught });
      }
      this.#connectedAt = null;
      if (this.#closed) break;
      this.#disconnects++;
      this.#lastError = { code: error.code, message: error.message, at: this.#clock.now() };
      const delay = this.#backoff.next();
      this.emit('disconnected', { error, reconnectInMs: delay });
      try {
        await sleep(delay, { signal: this.#closer.signal });
      } catch {
        break;
      }
    }
  }

  async #metadata(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(this.#options.metadata ?? {})) metadata.set(key, value);
    const source = this.#options.token;
    if (source !== undefined) {
      let token: string;
      try {
        token =
          typeof source === 'string'
            ? source
            : typeof source === 'function'
              ? await source()
              : (await readFile(source.file, 'utf8')).trim();
      } catch (error) {
        const where = typeof source === 'object' ? ` from ${source.file}` : '';
        throw new XdsError('ERR_XDS_TOKEN', `cannot read the bearer token${where}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (!token) throw new XdsError('ERR_XDS_TOKEN', 'the bearer token is empty');
      metadata.set('authorization', `Bearer ${token}`);
    }
    return metadata;
  }

  async #credentials(): Promise<{ credentials: grpc.ChannelCredentials; serverName?: string }> {
    if (this.#options.credentials) return { credentials: this.#options.credentials };
    const source = this.#options.tls;
    if (!source) return { credentials: grpc.credentials.createInsecure() };
    const tls = typeof source === 'function' ? await source() : source;
    if (Boolean(tls.cert) !== Boolean(tls.key)) {
      throw new XdsError('ERR_XDS_INVALID_OPTIONS', 'tls.cert and tls.key go together');
    }
    return {
      credentials: grpc.credentials.createSsl(
        tls.ca ? buf(tls.ca) : null,
        tls.key ? buf(tls.key) : null,
        tls.cert ? buf(tls.cert) : null,
      ),
      ...(tls.serverName ? { serverName: tls.serverName } : {}),
    };
  }

  /** One connection attempt; resolves with why the stream ended. */
  async #attempt(attempt: number): Promise<XdsError> {
    const [metadata, { credentials, serverName }] = await Promise.all([this.#metadata(), this.#credentials()]);
    if (this.#closed) return new XdsError('ERR_XDS_CLOSED', 'the xDS client is closed');
    const channel = new grpc.Client(this.#options.server, credentials, {
      ...DEFAULT_CLIENT_CHANNEL_OPTIONS,
      ...(serverName ? { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName } : {}),
      ...this.#options.channelOptions,
    });
    try {
      const method =
        this.#protocol === 'delta'
          ? AggregatedDiscoveryServiceDefinition.deltaAggregatedResources
          : AggregatedDiscoveryServiceDefinition.streamAggregatedResources;
      const call = channel.makeBidiStreamRequest(
        method.path,
        method.requestSerialize as (value: Request) => Buffer,
        method.responseDeserialize as (bytes: Buffer) => Response,
        metadata,
      );
      const stream: ActiveStream = { call, nodeSent: false, nonces: new Map(), requested: new Set() };
      const ended = new Promise<grpc.StatusObject>((resolve) => {
        call.on('status', resolve);
        call.on('error', () => {}); // the status carries it
      });
      call.on('data', (response: Response) => this.#onResponse(stream, response));
      this.#stream = stream;
      for (const subscription of this.#subscriptions.values()) this.#sendInitial(stream, subscription);
      let connectError: XdsError | undefined;
      const timeoutMs = this.#options.connectTimeoutMs ?? 10_000;
      channel.waitForReady(Date.now() + timeoutMs, (error) => {
        if (this.#stream !== stream) return;
        if (error) {
          connectError = new XdsError(
            'ERR_XDS_STREAM',
            `cannot connect to ${this.#options.server} within ${timeoutMs} ms`,
            { cause: error },
          );
          call.cancel();
          return;
        }
        this.#connectedAt = this.#clock.now();
        this.emit('connected', { server: this.#options.server, attempt });
      });
      const status = await ended;
      if (this.#stream === stream) this.#stream = undefined;
      return connectError ?? statusError(status);
    } finally {
      channel.close();
    }
  }

  /** Writes a request; `subscribing` marks its type as asked for on this stream (replies do not). */
  #write(stream: ActiveStream, request: Request, subscribing = false): void {
    if (!stream.nodeSent) {
      request.node = this.#node;
      stream.nodeSent = true;
    }
    if (subscribing) stream.requested.add(request.typeUrl!);
    stream.call.write(request);
  }

  /** The subscription part of a request: `[]` for pure wildcard (what ztunnel sends), `*` added when mixed. */
  #subscribeList(subscription: Subscription<unknown>): string[] {
    const { wildcard, names } = subscription[internals].interest();
    if (wildcard) return names.size ? ['*', ...names] : [];
    return [...names];
  }

  #sendInitial(stream: ActiveStream, subscription: Subscription<unknown>): void {
    const { typeUrl } = subscription;
    const { wildcard, names } = subscription[internals].interest();
    if (this.#protocol === 'delta') {
      const held = subscription[internals].state.byName;
      const initialResourceVersions: Record<string, string> = {};
      for (const [name, entry] of held) initialResourceVersions[name] = entry.version;
      const nothing = !wildcard && names.size === 0;
      this.#write(
        stream,
        {
          typeUrl,
          // Subscribed to nothing yet (on-demand): `*` in both lists, as ztunnel does, since [] would mean everything.
          resourceNamesSubscribe: nothing ? ['*'] : this.#subscribeList(subscription),
          resourceNamesUnsubscribe: nothing ? ['*'] : [],
          initialResourceVersions,
        },
        true,
      );
    } else {
      // SotW cannot say "nothing" on a first request ([] is the wildcard): stay silent until there is a name.
      if (!wildcard && names.size === 0) return;
      this.#write(
        stream,
        {
          typeUrl,
          versionInfo: subscription[internals].version(),
          resourceNames: this.#subscribeList(subscription),
          responseNonce: stream.nonces.get(typeUrl) ?? '',
        },
        true,
      );
    }
  }

  #interestChanged(subscription: Subscription<unknown>, added: string[], removed: string[]): void {
    const stream = this.#stream;
    if (!stream) return; // the next stream sends the whole subscription
    if (!stream.requested.has(subscription.typeUrl)) {
      this.#sendInitial(stream, subscription);
    } else if (this.#protocol === 'delta') {
      // A spontaneous subscription change carries no nonce.
      this.#write(stream, {
        typeUrl: subscription.typeUrl,
        resourceNamesSubscribe: added,
        resourceNamesUnsubscribe: removed,
      });
    } else {
      this.#write(stream, {
        typeUrl: subscription.typeUrl,
        versionInfo: subscription[internals].version(),
        resourceNames: this.#subscribeList(subscription),
        responseNonce: stream.nonces.get(subscription.typeUrl) ?? '',
      });
    }
  }

  #released(subscription: Subscription<unknown>): void {
    if (this.#subscriptions.get(subscription.typeUrl) !== subscription) return;
    this.#subscriptions.delete(subscription.typeUrl);
    const stream = this.#stream;
    if (!stream || this.#closed || !stream.requested.has(subscription.typeUrl)) return;
    const { wildcard, names } = subscription[internals].interest();
    if (this.#protocol === 'delta') {
      const unsubscribe = [...(wildcard ? ['*'] : []), ...names];
      if (unsubscribe.length) {
        this.#write(stream, { typeUrl: subscription.typeUrl, resourceNamesUnsubscribe: unsubscribe });
      }
    } else if (names.size) {
      // After explicit names, an empty list unsubscribes (a pure wildcard SotW watch cannot be cancelled).
      this.#write(stream, {
        typeUrl: subscription.typeUrl,
        versionInfo: subscription[internals].version(),
        resourceNames: [],
        responseNonce: stream.nonces.get(subscription.typeUrl) ?? '',
      });
    }
  }

  #onResponse(stream: ActiveStream, response: Response): void {
    if (this.#stream !== stream || this.#closed) return;
    this.#backoff.reset(); // the stream works: the next failure starts from the initial delay
    const now = this.#clock.now();
    const { typeUrl, nonce } = response;
    const subscription = this.#subscriptions.get(typeUrl);
    const delta = this.#protocol === 'delta';
    if (!delta) stream.nonces.set(typeUrl, nonce);
    if (!subscription) {
      if (stream.requested.has(typeUrl)) {
        // A response in flight when the subscription closed: acknowledge and drop it.
        this.#reply(stream, undefined, typeUrl, nonce, (response as DiscoveryResponse).versionInfo ?? '', []);
      } else {
        const error = new XdsError(
          'ERR_XDS_UNKNOWN_TYPE_URL',
          `response for ${typeUrl || '(no type URL)'}, which this client did not subscribe to`,
          { details: { typeUrl } },
        );
        this.#reply(stream, undefined, typeUrl, nonce, '', [error]);
      }
      return;
    }
    const core = subscription[internals];
    if (delta) {
      const processed = processDelta(subscription.type, core.state, response as DeltaDiscoveryResponse, now);
      if (!nonce) {
        processed.errors.push(new XdsError('ERR_XDS_PROTOCOL', 'a delta response without a nonce cannot be ACKed'));
      }
      core.apply(processed, undefined);
      this.#reply(stream, subscription, typeUrl, nonce, '', processed.errors);
    } else {
      const sotw = response as DiscoveryResponse;
      const processed = processSotw(subscription.type, core.state, core.bodies(), sotw, core.interest(), now);
      const accepted = processed.errors.length === 0;
      core.apply(processed, accepted ? sotw.versionInfo : undefined, subscription.type.sotwFullState);
      // A NACK carries the last version the client accepted.
      this.#reply(stream, subscription, typeUrl, nonce, core.version(), processed.errors);
    }
  }

  #reply(
    stream: ActiveStream,
    subscription: Subscription<unknown> | undefined,
    typeUrl: string,
    nonce: string,
    version: string,
    errors: readonly XdsError[],
  ): void {
    const at = this.#clock.now();
    const message = errors.map((e) => e.message).join('; ');
    const errorDetail = errors.length ? { code: NACK_CODE, message } : undefined;
    if (this.#protocol === 'delta') {
      if (nonce) this.#write(stream, { typeUrl, responseNonce: nonce, ...(errorDetail ? { errorDetail } : {}) });
    } else {
      this.#write(stream, {
        typeUrl,
        versionInfo: version,
        resourceNames: subscription ? this.#subscribeList(subscription) : [],
        responseNonce: nonce,
        ...(errorDetail ? { errorDetail } : {}),
      });
    }
    if (errors.length) {
      const nack: ClientNack = { nonce, version, at, message, errors };
      subscription?.[internals].nacked(nack);
      this.emit('nack', { typeUrl, nonce, version, message, errors });
    } else {
      subscription?.[internals].acked({ nonce, version, at });
      this.emit('ack', { typeUrl, nonce, version });
    }
  }
}

/** Waits for the client's next `connected` event. */
export async function waitForConnected(client: XdsClient, options: WaitOptions = {}): Promise<void> {
  if (client.connected) return;
  using wait = deadline(options.timeoutMs, options.signal);
  await new Promise<void>((resolve, reject) => {
    const onConnected = () => {
      wait.signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      client.off('connected', onConnected);
      reject(abortError(wait.signal));
    };
    client.once('connected', onConnected);
    wait.signal.addEventListener('abort', onAbort, { once: true });
  });
}
