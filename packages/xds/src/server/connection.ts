// One ADS stream on the server: authentication, request handling for both protocols, and pushes with backpressure.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Clock } from '@mesh/core';
import type { Node } from '@mesh/api/envoy.config.core.v3';
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import type { Status } from '@mesh/api/google.rpc';
import { fromStruct, type DeepPartial, type JsonValue } from '@mesh/api';
import { MeshError } from '@mesh/core';
import { isWildcardTypeUrl } from '../resource-type.js';
import { encodeDeltaFrame, encodeSotwFrame } from '../wire.js';
import { SHARE_MIN_BYTES, type FrameCache } from './frames.js';
import type { PushGate } from './gate.js';
import type { Entry, ResourceStore, StoredResource } from './store.js';
import { DeltaWatch, SotwWatch, type TypeSyncStatus, type Watch } from './watch.js';

export type XdsProtocol = 'sotw' | 'delta';

/** A connected proxy, as hooks and events see it. */
export interface XdsConnection<P = unknown> {
  /** Unique within this server. */
  readonly id: string;
  readonly protocol: XdsProtocol;
  /** The node from the stream's first request. */
  readonly node: Node;
  readonly nodeId: string;
  /** The remote address, `ip:port`. */
  readonly peer: string;
  /** The stream's gRPC metadata (e.g. `clusterid`). */
  readonly metadata: grpc.Metadata;
  /** What `authenticate` returned (undefined without the hook). */
  readonly principal: P;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
}

/** What the authentication hook gets. Throw to refuse the stream. */
export interface AuthenticateContext {
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  readonly node: Node;
  readonly protocol: XdsProtocol;
  /** The token of an `authorization: Bearer <token>` header, if any. */
  readonly bearerToken: string | undefined;
  /** The client certificate of a mutual TLS connection. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** `ssl` on a TLS connection, else undefined. */
  readonly transportSecurity: string | undefined;
  /** Aborted when the stream ends before authentication finishes. */
  readonly signal: AbortSignal;
}

/** One connection in `/debug/syncz` form. */
export interface ConnectionStatus {
  id: string;
  nodeId: string;
  cluster: string;
  protocol: XdsProtocol;
  peer: string;
  connectedAt: number;
  /** Node metadata as JSON. */
  metadata: Record<string, JsonValue>;
  types: TypeSyncStatus[];
}

export interface ReplyEvent<P> {
  connection: XdsConnection<P>;
  typeUrl: string;
  nonce: string;
  /** SotW: the version_info in the request (the client's accepted version). */
  version: string;
  /** False when the nonce is not one this stream sent recently (an old or foreign response). */
  known: boolean;
}

export interface NackEvent<P> extends ReplyEvent<P> {
  code: number;
  message: string;
}

export interface PushEvent<P> {
  connection: XdsConnection<P>;
  typeUrl: string;
  nonce: string;
  version: string;
  resources: number;
  removed: number;
  bytes: number;
}

export interface RejectEvent {
  peer: string;
  protocol: XdsProtocol;
  nodeId: string;
  /** The gRPC status the stream was closed with. */
  code: grpc.status;
  message: string;
  error?: unknown;
}

/** The server side of a connection: what it shares with all of them. */
export interface ConnectionHost<P> {
  readonly store: ResourceStore;
  readonly clock: Clock;
  readonly nonceTag: string;
  readonly controlPlane: Uint8Array | undefined;
  readonly gate: PushGate;
  readonly frames: FrameCache;
  /** A nonce for a frame shared between streams. */
  sharedNonce(): string;
  /** A push that has not reached the wire after this long stops holding its gate slot. */
  readonly slotTimeoutMs: number;
  authenticate?(context: AuthenticateContext): P | Promise<P>;
  filter?(connection: XdsConnection<P>, resource: StoredResource): boolean;
  opened(connection: Connection<P>): void;
  closed(connection: Connection<P>, reason: string): void;
  request(connection: Connection<P>, request: DiscoveryRequest | DeltaDiscoveryRequest): void;
  ack(event: ReplyEvent<P>): void;
  nack(event: NackEvent<P>): void;
  push(event: PushEvent<P>): void;
  reject(event: RejectEvent): void;
  hookError(error: unknown, connection: Connection<P>): void;
}

type Call = grpc.ServerDuplexStream<
  DiscoveryRequest | DeltaDiscoveryRequest,
  Uint8Array | DeepPartial<DiscoveryResponse | DeltaDiscoveryResponse>
>;

interface Outgoing {
  watch: Watch;
  frame: Uint8Array;
  nonce: string;
  version: string;
  resources: number;
  removed: number;
}

const MAX_TYPES = 64;
const MAX_QUEUED = 256;

/** Push order across types: clusters and endpoints before listeners and routes (make before break). */
function typeRank(typeUrl: string): number {
  if (typeUrl.endsWith('.Cluster')) return 0;
  if (typeUrl.endsWith('.ClusterLoadAssignment')) return 1;
  if (typeUrl.endsWith('.Listener')) return 2;
  if (typeUrl.endsWith('.RouteConfiguration')) return 3;
  return 4;
}

export class Connection<P> implements XdsConnection<P> {
  readonly watches = new Map<string, Watch>();
  readonly connectedAt: number;
  readonly peer: string;
  readonly metadata: grpc.Metadata;
  node!: Node;
  nodeId = '';
  principal = undefined as P;
  #phase: 'new' | 'authenticating' | 'open' | 'closed' = 'new';
  readonly #queue: Array<DiscoveryRequest | DeltaDiscoveryRequest> = [];
  readonly #abort = new AbortController();
  #scheduled = false;
  /** A frame is written and not yet flushed: the next one waits (changes keep merging in the watches meanwhile). */
  #inFlight = false;
  /** Waiting for a gate slot. */
  #waiting = false;
  #slot: { released: boolean; timer: NodeJS.Timeout | undefined } | undefined;
  /** A built frame waiting for a gate slot. */
  #ready: Outgoing | undefined;
  #nonces = 0;
  readonly #resume = () => {
    this.#waiting = false;
    this.schedulePush();
  };

  constructor(
    readonly id: string,
    readonly protocol: XdsProtocol,
    private readonly call: Call,
    private readonly host: ConnectionHost<P>,
  ) {
    this.connectedAt = host.clock.now();
    this.peer = call.getPeer();
    this.metadata = call.metadata;
    call.on('data', (request: DiscoveryRequest | DeltaDiscoveryRequest) => this.#onRequest(request));
    call.on('end', () => this.end(grpc.status.OK, 'client closed the stream'));
    call.on('cancelled', () => this.#teardown('cancelled by the client'));
    call.on('error', (error: Error) => this.#teardown(`stream error: ${error.message}`));
    call.on('close', () => this.#teardown('stream closed'));
  }

  get open(): boolean {
    return this.#phase === 'open';
  }

  /** Whether a push is queued, waiting for a slot, or on its way to the client. */
  get busy(): boolean {
    if (this.#scheduled || this.#inFlight || this.#waiting || this.#ready) return true;
    for (const watch of this.watches.values()) if (watch.pending) return true;
    return false;
  }

  /** The store changed `names` of `typeUrl`. */
  changed(typeUrl: string, names: Set<string>): void {
    const watch = this.watches.get(typeUrl);
    if (!watch) return;
    watch.changed(names, this.host.store.type(typeUrl));
    if (watch.pending) this.schedulePush();
  }

  refilter(): void {
    for (const watch of this.watches.values()) watch.refilter();
    this.schedulePush();
  }

  status(): ConnectionStatus {
    return {
      id: this.id,
      nodeId: this.nodeId,
      cluster: this.node?.cluster ?? '',
      protocol: this.protocol,
      peer: this.peer,
      connectedAt: this.connectedAt,
      metadata: this.node ? fromStruct(this.node.metadata) : {},
      types: [...this.watches.values()].map((w) => w.snapshot()),
    };
  }

  /** Ends the stream with a status (OK, or UNAVAILABLE on shutdown so the proxy reconnects elsewhere). */
  end(code: grpc.status, details: string): void {
    if (this.#phase === 'closed') return;
    this.#teardown(details);
    if (code === grpc.status.OK) this.call.end();
    else this.call.emit('error', { code, details, name: 'XdsServerStatus', message: details });
  }

  #teardown(reason: string): void {
    if (this.#phase === 'closed') return;
    const wasOpen = this.#phase === 'open';
    this.#phase = 'closed';
    this.#abort.abort();
    this.#queue.length = 0;
    this.host.gate.cancel(this.#resume);
    this.#releaseSlot();
    if (wasOpen) this.host.closed(this, reason);
  }

  #fail(code: grpc.status, message: string, error?: unknown): void {
    if (this.#phase === 'closed') return;
    this.host.reject({ peer: this.peer, protocol: this.protocol, nodeId: this.nodeId, code, message, error });
    this.end(code, message);
  }

  #onRequest(request: DiscoveryRequest | DeltaDiscoveryRequest): void {
    switch (this.#phase) {
      case 'closed':
        return;
      case 'authenticating':
        if (this.#queue.length >= MAX_QUEUED) {
          this.#fail(grpc.status.RESOURCE_EXHAUSTED, 'too many requests before authentication finished');
        } else this.#queue.push(request);
        return;
      case 'open':
        this.#handle(request);
        return;
      case 'new':
        this.#start(request);
    }
  }

  #start(first: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (!first.node?.id) {
      this.#fail(grpc.status.INVALID_ARGUMENT, 'missing node information: the first request must carry node.id');
      return;
    }
    this.node = first.node;
    this.nodeId = first.node.id;
    if (!this.host.authenticate) {
      this.#opened();
      this.#handle(first);
      return;
    }
    this.#phase = 'authenticating';
    this.#queue.push(first);
    const auth = this.call.getAuthContext?.();
    const header = String(this.metadata.get('authorization')[0] ?? '');
    const bearer = /^bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const context: AuthenticateContext = {
      metadata: this.metadata,
      peer: this.peer,
      node: first.node,
      protocol: this.protocol,
      bearerToken: bearer,
      peerCertificate: auth?.sslPeerCertificate,
      transportSecurity: auth?.transportSecurityType,
      signal: this.#abort.signal,
    };
    Promise.resolve()
      .then(() => this.host.authenticate!(context))
      .then(
        (principal) => {
          if (this.#phase !== 'authenticating') return;
          this.principal = principal;
          this.#opened();
          for (const request of this.#queue.splice(0)) {
            if (!this.open) break;
            this.#handle(request);
          }
        },
        (error: unknown) => {
          const denied = MeshError.is(error, 'ERR_XDS_PERMISSION_DENIED');
          const message = error instanceof Error ? error.message : String(error);
          this.#fail(denied ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, message, error);
        },
      );
  }

  #opened(): void {
    this.#phase = 'open';
    this.host.opened(this);
  }

  #handle(request: DiscoveryRequest | DeltaDiscoveryRequest): void {
    this.host.request(this, request);
    if (!request.typeUrl) {
      this.#fail(grpc.status.INVALID_ARGUMENT, 'a request must carry type_url');
      return;
    }
    if (!this.watches.has(request.typeUrl) && this.watches.size >= MAX_TYPES) {
      this.#fail(grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_TYPES} resource types on one stream`);
      return;
    }
    if (this.protocol === 'delta') this.#delta(request as DeltaDiscoveryRequest);
    else this.#sotw(request as DiscoveryRequest);
  }

  #wildcardType(typeUrl: string): boolean {
    return this.host.store.type(typeUrl)?.wildcard ?? isWildcardTypeUrl(typeUrl);
  }

  #delta(request: DeltaDiscoveryRequest): void {
    const { typeUrl } = request;
    let watch = this.watches.get(typeUrl) as DeltaWatch | undefined;
    // A type's first request is a subscription; one carrying a nonce is an ACK/NACK of something we sent.
    const first = !watch && !request.responseNonce;
    if (!watch) this.watches.set(typeUrl, (watch = new DeltaWatch(typeUrl)));
    if (request.responseNonce) this.#reply(watch, request.responseNonce, '', request.errorDetail);
    const subscribe = request.resourceNamesSubscribe;
    const unsubscribe = request.resourceNamesUnsubscribe;
    // Subscription changes count whatever the nonce (Istio drops those with a stale nonce; the protocol says not to).
    if (first || subscribe.length || unsubscribe.length) {
      watch.subscribe(
        { subscribe, unsubscribe, initial: first ? request.initialResourceVersions : {} },
        first,
        this.#wildcardType(typeUrl),
        this.host.store.type(typeUrl),
      );
    }
    if (watch.pending) this.schedulePush();
  }

  #sotw(request: DiscoveryRequest): void {
    const { typeUrl } = request;
    let watch = this.watches.get(typeUrl) as SotwWatch | undefined;
    const isNew = !watch;
    if (!watch) this.watches.set(typeUrl, (watch = new SotwWatch(typeUrl)));
    const nonce = request.responseNonce;
    if (request.errorDetail) {
      // A NACK is recorded and never answered (the client keeps what it had; answering could loop).
      this.#reply(watch, nonce, request.versionInfo, request.errorDetail);
      return;
    }
    // A nonce older than the latest response: a newer response is on its way, which this request has not seen.
    if (!isNew && nonce && nonce !== watch.lastNonce) return;
    if (nonce && !isNew) this.#reply(watch, nonce, request.versionInfo, null);
    watch.subscribe(request.resourceNames, this.#wildcardType(typeUrl), isNew || !nonce);
    if (watch.pending) this.schedulePush();
  }

  #reply(watch: Watch, nonce: string, version: string, errorDetail: Status | null | undefined): void {
    const error = errorDetail ? { code: errorDetail.code, message: errorDetail.message } : null;
    const known = watch.reply(nonce, version, this.host.clock.now(), error);
    const event = { connection: this, typeUrl: watch.typeUrl, nonce, version, known };
    if (error) this.host.nack({ ...event, ...error });
    else if (known) this.host.ack(event);
  }

  schedulePush(): void {
    if (this.#scheduled || this.#phase !== 'open') return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#push();
    });
  }

  #visible(): (entry: Entry) => boolean {
    const filter = this.host.filter;
    if (!filter) return () => true;
    return (entry) => {
      try {
        return filter(this, entry);
      } catch (error) {
        this.host.hookError(error, this);
        return false;
      }
    };
  }

  #nonce(): string {
    return `${this.host.nonceTag}${this.id}-${(++this.#nonces).toString(36)}`;
  }

  #releaseSlot(): void {
    const slot = this.#slot;
    if (!slot || slot.released) return;
    slot.released = true;
    clearTimeout(slot.timer);
    this.#slot = undefined;
    this.host.gate.release();
  }

  /**
   * Sends the next pending type's response: one frame on the wire at a time per connection. Big frames also need a
   * slot of the server-wide gate; a connection waiting for one keeps its built frame (usually shared with others).
   */
  #push(): void {
    if (this.#inFlight || this.#waiting || this.#phase !== 'open') return;
    const next = this.#ready ?? this.#build();
    if (!next) return;
    if (next.frame.length >= SHARE_MIN_BYTES && !this.#slot) {
      if (!this.host.gate.acquire(this.#resume)) {
        this.#ready = next;
        this.#waiting = true;
        return;
      }
      this.#slot = { released: false, timer: undefined };
    }
    this.#ready = undefined;
    this.#send(next);
  }

  /** The next pending type's frame, in make-before-break order; undefined when nothing changed. */
  #build(): Outgoing | undefined {
    const watches = [...this.watches.values()]
      .filter((w) => w.pending)
      .sort((a, b) => typeRank(a.typeUrl) - typeRank(b.typeUrl));
    if (watches.length === 0) return undefined;
    const visible = this.#visible();
    for (const watch of watches) {
      const state = this.host.store.type(watch.typeUrl);
      if (watch instanceof DeltaWatch) {
        const push = watch.build(state, visible);
        if (!push) continue;
        const version = String(state?.revision ?? 0);
        const resources = push.entries.map((e) => e.deltaBytes());
        const ids = () => push.entries.map((e) => e.id).join(',');
        const { frame, nonce } = this.#frame(watch, resources, ids, push.removed, version, (nonce) =>
          encodeDeltaFrame({
            systemVersionInfo: version,
            resources,
            typeUrl: watch.typeUrl,
            nonce,
            removedResources: push.removed,
            controlPlane: this.host.controlPlane,
          }),
        );
        return { watch, frame, nonce, version, resources: push.entries.length, removed: push.removed.length };
      }
      const push = (watch as SotwWatch).build(state, visible);
      if (!push) continue;
      const resources = push.entries.map((e) => e.anyBytes());
      // In SotW the version is a content hash of the set: it identifies the frame.
      const { frame, nonce } = this.#frame(
        watch,
        resources,
        () => '',
        [],
        push.version,
        (nonce) =>
          encodeSotwFrame({
            versionInfo: push.version,
            resources,
            typeUrl: watch.typeUrl,
            nonce,
            controlPlane: this.host.controlPlane,
          }),
      );
      return { watch, frame, nonce, version: push.version, resources: push.entries.length, removed: 0 };
    }
    return undefined;
  }

  /** A frame for these parts: shared with other streams when it is big and they get the same, else built here. */
  #frame(
    watch: Watch,
    resources: Uint8Array[],
    ids: () => string,
    removed: string[],
    version: string,
    encode: (nonce: string) => Uint8Array,
  ): { frame: Uint8Array; nonce: string } {
    let size = 0;
    for (const r of resources) size += r.length;
    if (size < SHARE_MIN_BYTES) {
      const nonce = this.#nonce();
      return { frame: encode(nonce), nonce };
    }
    const key = `${this.protocol}\n${watch.typeUrl}\n${version}\n${ids()}\n${removed.join('\n')}`;
    const hit = this.host.frames.get(key);
    if (hit && !watch.hasSent(hit.nonce)) return hit;
    const nonce = this.host.sharedNonce();
    const shared = { frame: encode(nonce), nonce };
    this.host.frames.set(key, shared);
    return shared;
  }

  #send({ watch, frame, ...sent }: Outgoing): void {
    if (watch instanceof SotwWatch) watch.lastNonce = sent.nonce;
    watch.sent({ ...sent, at: this.host.clock.now() });
    this.host.push({ connection: this, typeUrl: watch.typeUrl, ...sent, bytes: frame.length });
    this.#inFlight = true;
    const slot = this.#slot;
    if (slot) {
      slot.timer = setTimeout(() => this.#releaseSlot(), this.host.slotTimeoutMs);
      slot.timer.unref();
    }
    this.call.write(frame, () => {
      this.#inFlight = false;
      this.#releaseSlot();
      this.schedulePush();
    });
  }

  /** @internal Test hook: sends a response as given (see @mesh/xds/testing). */
  inject(typeUrl: string, frame: Uint8Array, nonce: string, version: string): void {
    if (this.#phase !== 'open') return;
    let watch = this.watches.get(typeUrl);
    if (!watch) {
      watch = this.protocol === 'delta' ? new DeltaWatch(typeUrl) : new SotwWatch(typeUrl);
      this.watches.set(typeUrl, watch);
    }
    if (watch instanceof SotwWatch) watch.lastNonce = nonce;
    watch.sent({ nonce, version, resources: 0, removed: 0, at: this.host.clock.now() });
    this.call.write(frame);
  }

  /** @internal A fresh nonce for an injected response. */
  nextNonce(): string {
    return this.#nonce();
  }
}
