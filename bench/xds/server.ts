// The server side of bench/xds, one process per measured system so its RSS and CPU are its own:
// - `mesh`: @mesh/xds's XdsServer (content versions, per-connection watches, debounce, syncz bookkeeping);
// - `raw`: the floor, bare @grpc/grpc-js streams writing frames encoded once up front, with no bookkeeping at all.
// Both measure on their own clock: from `initial` to the last subscriber's ACK of its full push, and from each
// change to the last subscriber's ACK of the push carrying it. Driven over IPC by main.ts.
import * as grpc from '@grpc/grpc-js';
import { packAny } from '@mesh/api';
import {
  AggregatedDiscoveryServiceDefinition,
  DeltaDiscoveryResponse,
  type DeltaDiscoveryRequest,
} from '@mesh/api/envoy.service.discovery.v3';
import { Address } from '@mesh/api/istio.workload';
import { addressAliases, addressResourceName, addressType, XdsServer } from '@mesh/xds';
import { sampleAddresses, changedAddress } from './data.ts';

const [system, resourcesText, subscribersText, debounceText, concurrencyText] = process.argv.slice(2);
const resources = Number(resourcesText);
const subscribers = Number(subscribersText);
const debounceMs = Number(debounceText);
const send = (message: unknown) => process.send?.(message);

interface Measured {
  address: string;
  /** Resolves with ms from now until `subscribers` connections ACKed their full push. */
  initial(): Promise<number>;
  /** Changes one resource; resolves with ms until every connection ACKed the push carrying it. */
  change(round: number): Promise<number>;
  close(): Promise<void>;
}

/** Resolves after `count` distinct connections called `done(id)`. */
function countdown(count: number) {
  const seen = new Set<string>();
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return {
    promise,
    done(id: string) {
      seen.add(id);
      if (seen.size === count) resolve();
    },
  };
}

async function mesh(): Promise<Measured> {
  const server = new XdsServer({
    debounce: { delayMs: debounceMs, maxDelayMs: Math.max(100, debounceMs) },
    maxConcurrentPushes: Number(concurrencyText),
  });
  server.set(
    addressType,
    sampleAddresses(resources).map((resource) => ({ resource })),
  );
  const { address } = await server.listen({ address: '127.0.0.1:0' });
  // What each connection must ACK for the measurement in progress: connection id → nonce.
  let waiting: Map<string, string> | undefined;
  let acked: ReturnType<typeof countdown> | undefined;
  let wantFull = false;
  server.on('push', (e) => {
    if (!waiting || (wantFull && e.resources < resources)) return;
    if (!waiting.has(e.connection.id)) waiting.set(e.connection.id, e.nonce);
  });
  server.on('ack', (e) => {
    if (waiting?.get(e.connection.id) === e.nonce) acked?.done(e.connection.id);
  });
  const measure = async (act: () => void, full: boolean) => {
    waiting = new Map();
    wantFull = full;
    acked = countdown(subscribers);
    const start = performance.now();
    act();
    await acked.promise;
    const ms = performance.now() - start;
    waiting = undefined;
    return ms;
  };
  return {
    address,
    initial: () => measure(() => {}, true),
    change: (round) =>
      measure(() => {
        const before = server.resources(addressType.typeUrl).length;
        const resource = changedAddress(round, resources);
        const name = addressResourceName(Address.create(resource));
        const version = server.get(addressType.typeUrl, name)?.version;
        server.update(addressType, { set: [{ resource }] });
        if (
          server.get(addressType.typeUrl, name)?.version === version ||
          server.resources(addressType.typeUrl).length !== before
        ) {
          throw new Error(`round ${round} did not change exactly one existing resource`);
        }
      }, false),
    close: () => server.close({ graceMs: 1_000 }),
  };
}

async function raw(): Promise<Measured> {
  // Every frame encoded once, before any subscriber connects: the cheapest a server can possibly be.
  const full = Buffer.from(
    DeltaDiscoveryResponse.encode({
      typeUrl: Address.typeUrl,
      nonce: 'full',
      resources: sampleAddresses(resources).map((a, i) => ({
        name: addressResourceName(Address.create(a)),
        aliases: addressAliases(Address.create(a)),
        version: `v${i}`,
        resource: packAny(Address, a),
      })),
    }),
  );
  const streams = new Set<grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>>();
  let pending: { nonce: string; acked: ReturnType<typeof countdown> } | undefined;
  const ids = new WeakMap<object, string>();
  let next = 0;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const definition = {
    ...AggregatedDiscoveryServiceDefinition,
    deltaAggregatedResources: {
      ...AggregatedDiscoveryServiceDefinition.deltaAggregatedResources,
      responseSerialize: (frame: Buffer) => frame,
    },
  };
  server.addService(definition as unknown as grpc.ServiceDefinition, {
    deltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) => {
      ids.set(call, String(++next));
      call.on('data', (request: DeltaDiscoveryRequest) => {
        if (!request.responseNonce) {
          streams.add(call);
          call.write(full);
        } else if (request.responseNonce === pending?.nonce) pending.acked.done(ids.get(call)!);
      });
      call.on('error', () => streams.delete(call));
      call.on('end', () => call.end());
    },
    streamAggregatedResources: () => {},
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const measure = async (nonce: string, act: () => void) => {
    pending = { nonce, acked: countdown(subscribers) };
    const start = performance.now();
    act();
    await pending.acked.promise;
    return performance.now() - start;
  };
  return {
    address: `127.0.0.1:${port}`,
    initial: () => measure('full', () => {}),
    change: (round) => {
      const resource = changedAddress(round, resources);
      const frame = Buffer.from(
        DeltaDiscoveryResponse.encode({
          typeUrl: Address.typeUrl,
          nonce: `change-${round}`,
          resources: [
            {
              name: addressResourceName(Address.create(resource)),
              aliases: addressAliases(Address.create(resource)),
              version: `c${round}`,
              resource: packAny(Address, resource),
            },
          ],
        }),
      );
      return measure(`change-${round}`, () => {
        for (const stream of streams) stream.write(frame);
      });
    },
    close: async () => {
      server.forceShutdown();
    },
  };
}

const measured = system === 'raw' ? await raw() : await mesh();
process.on('message', async (message: { cmd: string; rounds?: number }) => {
  switch (message.cmd) {
    case 'initial':
      send({ event: 'armed' });
      send({ event: 'initial', ms: await measured.initial() });
      break;
    case 'changes': {
      const samples: number[] = [];
      for (let round = 1; round <= message.rounds!; round++) {
        samples.push(await measured.change(round));
        await new Promise((resolve) => setTimeout(resolve, 5)); // let the ACK traffic settle between changes
      }
      send({ event: 'changes', samples });
      break;
    }
    case 'stop':
      await measured.close();
      process.send?.({ event: 'stopped' }, () => process.exit(0));
  }
});
send({ event: 'listening', address: measured.address });
