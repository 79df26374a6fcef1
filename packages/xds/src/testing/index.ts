// @mesh/xds/testing: an in-process control plane for your tests. Set resources, point a client (ours, Envoy,
// grpc-js-xds) at it, and await what the client did with them: ACK, NACK, or nothing yet.
import type { DeepPartial } from '@mesh/api';
import {
  DeltaDiscoveryResponse,
  DiscoveryResponse,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from '@mesh/api/envoy.service.discovery.v3';
import { abortError, deadline, sleep } from '@mesh/core';
import { XdsError } from '../errors.js';
import type { ResourceType } from '../resource-type.js';
import type { NackEvent, ReplyEvent, XdsConnection } from '../server/connection.js';
import { XdsServer, type DebounceOptions, type ServerTlsOptions, type XdsServerOptions } from '../server/server.js';
import type { ResourceInput, StoreUpdate } from '../server/store.js';

export interface TestControlPlaneOptions<P = unknown> extends Omit<XdsServerOptions<P>, 'debounce'> {
  /** Default `127.0.0.1:0`. */
  address?: string;
  tls?: ServerTlsOptions;
  /** Default: no debounce (push on the next tick). */
  debounce?: DebounceOptions;
  signal?: AbortSignal;
}

export interface WaitForOptions {
  /** Only this node's connections. Default: every connection. */
  nodeId?: string;
  signal?: AbortSignal;
  /** Default 5 s. */
  timeoutMs?: number;
}

/** A request as received, tagged with its protocol (narrow on `protocol` to read its fields). */
export type RecordedRequest = { connectionId: string; nodeId: string } & (
  { protocol: 'sotw'; request: DiscoveryRequest } | { protocol: 'delta'; request: DeltaDiscoveryRequest }
);

type TypeRef = string | Pick<ResourceType<unknown>, 'typeUrl'>;
const urlOf = (type: TypeRef) => (typeof type === 'string' ? type : type.typeUrl);

const MAX_LOG = 1_000;

/** A running control plane on a loopback port. Dispose it (or `close()`) at the end of the test. */
export class TestControlPlane<P = unknown> implements AsyncDisposable {
  /** Every request received, oldest first (the last 1,000). */
  readonly requests: RecordedRequest[] = [];
  /** Every NACK received (the last 1,000). */
  readonly nacks: NackEvent<P>[] = [];

  constructor(
    readonly server: XdsServer<P>,
    /** `host:port` to give clients. */
    readonly address: string,
    readonly port: number,
  ) {
    server.on('request', (connection, request) => {
      this.requests.push({
        connectionId: connection.id,
        nodeId: connection.nodeId,
        protocol: connection.protocol,
        request,
      } as RecordedRequest);
      if (this.requests.length > MAX_LOG) this.requests.shift();
    });
    server.on('nack', (event) => {
      this.nacks.push(event);
      if (this.nacks.length > MAX_LOG) this.nacks.shift();
    });
  }

  /** Replaces every resource of a type. */
  set<T>(type: ResourceType<T>, resources: Iterable<ResourceInput<T>>): void {
    this.server.set(type, resources);
  }

  update<T>(type: ResourceType<T>, update: StoreUpdate<T>): void {
    this.server.update(type, update);
  }

  remove<T>(type: ResourceType<T>, names: Iterable<string>): void {
    this.server.remove(type, names);
  }

  /** Delta requests received (of one type, if given), oldest first. */
  deltaRequests(type?: TypeRef): DeltaDiscoveryRequest[] {
    return this.requests.flatMap((r) =>
      r.protocol === 'delta' && (type === undefined || r.request.typeUrl === urlOf(type)) ? [r.request] : [],
    );
  }

  /** State-of-the-world requests received (of one type, if given), oldest first. */
  sotwRequests(type?: TypeRef): DiscoveryRequest[] {
    return this.requests.flatMap((r) =>
      r.protocol === 'sotw' && (type === undefined || r.request.typeUrl === urlOf(type)) ? [r.request] : [],
    );
  }

  connections(nodeId?: string): XdsConnection<P>[] {
    return this.server.connections().filter((c) => nodeId === undefined || c.nodeId === nodeId);
  }

  /** Waits for a connection (of `nodeId`, if given). */
  async connection(options: WaitForOptions = {}): Promise<XdsConnection<P>> {
    return this.#poll(options, () => this.connections(options.nodeId)[0]);
  }

  /**
   * Waits until every matching connection subscribed to `type` has ACKed the latest response and nothing is left to
   * push. Rejects with ERR_XDS_NACK if the latest response was NACKed instead.
   */
  async synced(type: TypeRef, options: WaitForOptions = {}): Promise<void> {
    const typeUrl = urlOf(type);
    await this.#poll(options, () => {
      if (this.server.busy) return undefined;
      const statuses = this.server.status().filter((c) => options.nodeId === undefined || c.nodeId === options.nodeId);
      const watches = statuses.flatMap((c) => c.types.filter((t) => t.typeUrl === typeUrl));
      if (watches.length === 0) return undefined;
      for (const watch of watches) {
        if (watch.status === 'NACK') {
          throw new XdsError('ERR_XDS_NACK', `${typeUrl} was NACKed: ${watch.lastNack?.message ?? ''}`, {
            details: { typeUrl, nonce: watch.lastNack?.nonce },
          });
        }
        if (watch.status === 'STALE') return undefined;
      }
      return true;
    });
  }

  /** The next ACK of `type` (after this call). */
  nextAck(type: TypeRef, options: WaitForOptions = {}): Promise<ReplyEvent<P>> {
    return this.#next('ack', urlOf(type), options);
  }

  /** The next NACK of `type` (after this call). */
  nextNack(type: TypeRef, options: WaitForOptions = {}): Promise<NackEvent<P>> {
    return this.#next('nack', urlOf(type), options) as Promise<NackEvent<P>>;
  }

  async #next(event: 'ack' | 'nack', typeUrl: string, options: WaitForOptions): Promise<ReplyEvent<P>> {
    using wait = deadline(options.timeoutMs ?? 5_000, options.signal);
    return await new Promise<ReplyEvent<P>>((resolve, reject) => {
      const onEvent = (e: ReplyEvent<P>) => {
        if (e.typeUrl !== typeUrl || (options.nodeId !== undefined && e.connection.nodeId !== options.nodeId)) return;
        cleanup();
        resolve(e);
      };
      const onAbort = () => {
        cleanup();
        reject(abortError(wait.signal));
      };
      const cleanup = () => {
        this.server.off(event, onEvent);
        wait.signal.removeEventListener('abort', onAbort);
      };
      this.server.on(event, onEvent);
      wait.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Sends a response exactly as given, bypassing the resource store and its validation: for testing how a client
   * handles bad input (unknown type URLs, undecodable resources, duplicate names). The nonce is filled in when
   * absent and returned; the client's ACK/NACK of it is recorded as usual.
   */
  inject(
    response: DeepPartial<DiscoveryResponse> | DeepPartial<DeltaDiscoveryResponse>,
    options: { nodeId?: string } = {},
  ): string {
    const target = this.connections(options.nodeId)[0];
    const connection = target && this.server.connectionById(target.id);
    if (!connection) {
      throw new XdsError('ERR_XDS_INVALID_OPTIONS', `no connection${options.nodeId ? ` for ${options.nodeId}` : ''}`);
    }
    const nonce = response.nonce || connection.nextNonce();
    const typeUrl = response.typeUrl ?? '';
    if (connection.protocol === 'delta') {
      const bytes = DeltaDiscoveryResponse.encode({ ...(response as DeepPartial<DeltaDiscoveryResponse>), nonce });
      connection.inject(typeUrl, bytes, nonce, (response as DeltaDiscoveryResponse).systemVersionInfo ?? '');
    } else {
      const bytes = DiscoveryResponse.encode({ ...(response as DeepPartial<DiscoveryResponse>), nonce });
      connection.inject(typeUrl, bytes, nonce, (response as DiscoveryResponse).versionInfo ?? '');
    }
    return nonce;
  }

  /**
   * A bootstrap for @grpc/grpc-js-xds (`GRPC_XDS_BOOTSTRAP_CONFIG` or the channel option
   * `grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config`) that points at this control plane.
   */
  bootstrap(options: { nodeId?: string; cluster?: string; serverFeatures?: string[] } = {}): string {
    return JSON.stringify({
      xds_servers: [
        {
          server_uri: this.address,
          channel_creds: [{ type: 'insecure' }],
          server_features: options.serverFeatures ?? ['xds_v3'],
        },
      ],
      node: { id: options.nodeId ?? 'test-node', cluster: options.cluster ?? '', locality: {} },
    });
  }

  async close(): Promise<void> {
    await this.server.close({ graceMs: 1_000 });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #poll<T>(options: WaitForOptions, check: () => T | undefined): Promise<T> {
    using wait = deadline(options.timeoutMs ?? 5_000, options.signal);
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      try {
        await sleep(5, { signal: wait.signal });
      } catch {
        throw abortError(wait.signal);
      }
    }
  }
}

/** Starts a control plane on a free loopback port. */
export async function startTestControlPlane<P = unknown>(
  options: TestControlPlaneOptions<P> = {},
): Promise<TestControlPlane<P>> {
  const { address, tls, signal, debounce, ...serverOptions } = options;
  const server = new XdsServer<P>({ ...serverOptions, debounce: debounce ?? { delayMs: 0 } });
  try {
    const bound = await server.listen({ address: address ?? '127.0.0.1:0', ...(tls ? { tls } : {}), signal });
    return new TestControlPlane(server, bound.address, bound.port);
  } catch (error) {
    await server.close({ graceMs: 0 });
    throw error;
  }
}

export type { XdsConnection, NackEvent, ReplyEvent } from '../server/connection.js';
