// Shared pieces of the integration suites: sample resources, bounded waits, and raw gRPC peers that speak ADS
// message by message (to hold each side of @mesh/xds to the protocol independently of the other side).
import * as grpc from '@grpc/grpc-js';
import type { DeepPartial } from '@mesh/api';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import type { Address } from '@mesh/api/istio.workload';
import type { Authorization } from '@mesh/api/istio.security';
import type { ResourceInput, Subscription, XdsResource, ResourceBatch } from '../src/index.js';

export const workload = (uid: string, ip: number, extra: Record<string, unknown> = {}): ResourceInput<Address> => ({
  resource: { workload: { uid, name: uid, namespace: 'ns', addresses: [Uint8Array.of(10, 0, 0, ip)], ...extra } },
});

export const policy = (
  name: string,
  namespace = 'ns',
  extra: Partial<Authorization> = {},
): ResourceInput<Authorization> => ({
  resource: { name, namespace, ...extra },
});

/** Polls `check` every 5 ms until it returns something other than undefined/false, for at most `timeoutMs`. */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 5_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The next batch a subscription applies that satisfies `accept`. */
export function nextBatch<T>(
  subscription: Subscription<T>,
  accept: (batch: ResourceBatch<T>) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<ResourceBatch<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no batch for ${subscription.typeUrl} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = subscription.onChange((batch) => {
      if (!accept(batch)) return;
      clearTimeout(timer);
      stop();
      resolve(batch);
    });
  });
}

export const namesOf = <T>(resources: Iterable<XdsResource<T>>) => [...resources].map((r) => r.name).sort();

/** A queue of stream messages with bounded waits. */
export class Inbox<T> {
  readonly items: T[] = [];
  #waiters: Array<() => void> = [];
  #taken = 0;

  push(item: T): void {
    this.items.push(item);
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** The next message not taken yet. */
  async next(timeoutMs = 5_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    while (this.#taken >= this.items.length) {
      const left = end - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.items[this.#taken++]!;
  }

  /** Resolves if nothing arrives within `ms` (used only to check that something is NOT sent). */
  async nothingWithin(ms: number): Promise<boolean> {
    const before = this.items.length;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.items.length === before;
  }
}

type AnyRequest = DeepPartial<DiscoveryRequest | DeltaDiscoveryRequest>;
type AnyResponse = DiscoveryResponse | DeltaDiscoveryResponse;

export interface RawClient {
  responses: Inbox<AnyResponse>;
  send(request: AnyRequest): void;
  status: Promise<grpc.StatusObject>;
  close(): void;
}

/** A bare ADS client stream: sends exactly what it is given. */
export function rawClient(address: string, protocol: 'sotw' | 'delta', metadata = new grpc.Metadata()): RawClient {
  const channel = new grpc.Client(address, grpc.credentials.createInsecure());
  const method =
    protocol === 'delta'
      ? AggregatedDiscoveryServiceDefinition.deltaAggregatedResources
      : AggregatedDiscoveryServiceDefinition.streamAggregatedResources;
  const call = channel.makeBidiStreamRequest(
    method.path,
    method.requestSerialize as (value: AnyRequest) => Buffer,
    method.responseDeserialize as (bytes: Buffer) => AnyResponse,
    metadata,
  );
  const responses = new Inbox<AnyResponse>();
  call.on('data', (response: AnyResponse) => responses.push(response));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    responses,
    send: (request) => call.write(request),
    status,
    close() {
      call.cancel();
      channel.close();
    },
  };
}

export interface RawServer extends AsyncDisposable {
  address: string;
  /** Streams in the order they opened. */
  streams: Inbox<RawStream>;
}

export interface RawStream {
  protocol: 'sotw' | 'delta';
  metadata: grpc.Metadata;
  requests: Inbox<DiscoveryRequest & DeltaDiscoveryRequest>;
  send(response: DeepPartial<AnyResponse>): void;
  end(code?: grpc.status): void;
}

/** A bare ADS server: records every request, sends exactly what the test says. */
export async function rawServer(address = '127.0.0.1:0'): Promise<RawServer> {
  const server = new grpc.Server();
  const streams = new Inbox<RawStream>();
  const handler = (protocol: 'sotw' | 'delta') => (call: grpc.ServerDuplexStream<never, never>) => {
    const requests = new Inbox<DiscoveryRequest & DeltaDiscoveryRequest>();
    call.on('data', (request: DiscoveryRequest & DeltaDiscoveryRequest) => requests.push(request));
    call.on('error', () => {});
    streams.push({
      protocol,
      metadata: call.metadata,
      requests,
      send: (response) => call.write(response as never),
      end: (code = grpc.status.UNAVAILABLE) => call.emit('error', { code, details: 'ended by the test' }),
    });
  };
  server.addService(AggregatedDiscoveryServiceDefinition as unknown as grpc.ServiceDefinition, {
    streamAggregatedResources: handler('sotw') as grpc.handleBidiStreamingCall<unknown, unknown>,
    deltaAggregatedResources: handler('delta') as grpc.handleBidiStreamingCall<unknown, unknown>,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    streams,
    async [Symbol.asyncDispose]() {
      server.forceShutdown();
    },
  };
}
