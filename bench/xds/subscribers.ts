// The subscriber side of bench/xds, in their own processes so the server's RSS is measured alone. Driven over IPC by
// main.ts. Two kinds of subscriber, each subscribing to every istio.workload.Address over delta ADS:
// - `client`: @mesh/xds's XdsClient as ztunnel uses it (decodes and validates every resource, keeps state);
// - `light`: a bare @grpc/grpc-js stream that decodes only the response frame and ACKs it, so that what is measured
//   is the server and the transport rather than the subscribers' CPU.
import * as grpc from '@grpc/grpc-js';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import type { DeepPartial } from '@mesh/api';
import { Address } from '@mesh/api/istio.workload';
import { addressType, XdsClient } from '@mesh/xds';

const [address, countText, offsetText, mode] = process.argv.slice(2);
const count = Number(countText);
const offset = Number(offsetText ?? 0);
const closers: Array<() => Promise<void> | void> = [];
const nodeId = (i: number) =>
  `ztunnel~10.1.${i >> 8}.${i & 255}~ztunnel-${i}.istio-system~istio-system.svc.cluster.local`;

function light(i: number) {
  const channel = new grpc.Client(address!, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 200 * 1024 * 1024,
  });
  const method = AggregatedDiscoveryServiceDefinition.deltaAggregatedResources;
  const call = channel.makeBidiStreamRequest(
    method.path,
    method.requestSerialize as (r: DeepPartial<DeltaDiscoveryRequest>) => Buffer,
    method.responseDeserialize as (b: Buffer) => DeltaDiscoveryResponse,
  );
  call.on('data', (response: DeltaDiscoveryResponse) =>
    call.write({ typeUrl: response.typeUrl, responseNonce: response.nonce }),
  );
  call.on('error', () => {});
  call.write({ node: { id: nodeId(i) }, typeUrl: Address.typeUrl });
  closers.push(() => {
    call.cancel();
    channel.close();
  });
}

function client(i: number) {
  const xds = new XdsClient({ server: address!, node: { id: nodeId(i) }, backoff: { initialMs: 50, maxMs: 1_000 } });
  xds.subscribe(addressType);
  closers.push(() => xds.close());
}

process.on('message', async (message: string) => {
  if (message === 'go') {
    for (let i = offset; i < offset + count; i++) (mode === 'light' ? light : client)(i);
  } else if (message === 'stop') {
    await Promise.all(closers.map((close) => close()));
    process.send?.('stopped', () => process.exit(0));
  }
});

process.send?.('loaded');
