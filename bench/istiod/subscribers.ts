// The subscriber side of bench/istiod: XdsClients as ztunnel uses them (TLS to 15012 with a service account token,
// delta ADS, wildcard Address and Authorization; every resource decoded and validated), in their own process so
// istiod's RSS and CPU are its own. Reports over IPC when each client holds the full initial state, and when each
// sees a new revision of the changing pod.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { DeepPartial } from '@mesh/api';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from '@mesh/api/envoy.service.discovery.v3';
import { addressType, authorizationType, XdsClient } from '@mesh/xds';

const [address, countText, offsetText, rootFile, token, expectedText, mode] = process.argv.slice(2);
const count = Number(countText);
const offset = Number(offsetText);
const expected = Number(expectedText);
const root = readFileSync(rootFile!, 'utf8');
const now = () => performance.timeOrigin + performance.now();
const clients: XdsClient[] = [];
const closers: (() => void)[] = [];
const CHANGING = 'Kubernetes//Pod/ns-0/p-0';
const nodeId = (i: number) =>
  `ztunnel~10.250.${i >> 8}.${i & 255}~ztunnel-${i}.istio-system~istio-system.svc.cluster.local`;

/**
 * A bare delta ADS stream (TLS + token, both types, wildcard) that decodes only the response frames and ACKs them:
 * what is measured is istiod and the transport rather than the subscribers' decoding.
 */
function light(i: number) {
  const channel = new grpc.Client(address!, grpc.credentials.createSsl(Buffer.from(root)), {
    'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    'grpc.max_receive_message_length': 200 * 1024 * 1024,
  });
  const method = AggregatedDiscoveryServiceDefinition.deltaAggregatedResources;
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token!}`);
  const call = channel.makeBidiStreamRequest(
    method.path,
    method.requestSerialize as (r: DeepPartial<DeltaDiscoveryRequest>) => Buffer,
    method.responseDeserialize as (b: Buffer) => DeltaDiscoveryResponse,
    metadata,
  );
  const names = new Set<string>();
  let full = false;
  let version = '';
  call.on('data', (response: DeltaDiscoveryResponse) => {
    call.write({ typeUrl: response.typeUrl, responseNonce: response.nonce });
    for (const r of response.resources) {
      names.add(r.name);
      if (r.name === CHANGING) version = r.version;
    }
    if (!full && names.size >= expected) {
      full = true;
      process.send?.({ event: 'full', i, at: now() });
    }
    if (full && response.resources.some((r) => r.name === CHANGING))
      process.send?.({ event: 'seen', i, version, at: now() });
  });
  call.on('error', () => {});
  const node = { id: nodeId(i), metadata: { fields: { NAMESPACE: { stringValue: 'istio-system' } } } };
  call.write({ node, typeUrl: addressType.typeUrl });
  call.write({ node, typeUrl: authorizationType.typeUrl });
  closers.push(() => {
    call.cancel();
    channel.close();
  });
}

function start(i: number) {
  const client = new XdsClient({
    server: address!,
    node: {
      id: nodeId(i),
      metadata: { NAMESPACE: 'istio-system', NODE_NAME: `node-${i}` },
    },
    tls: { ca: root, serverName: 'istiod.istio-system.svc' },
    token: token!,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  const addresses = client.subscribe(addressType);
  const policies = client.subscribe(authorizationType);
  let full = false;
  let lastRev = '';
  const check = () => {
    if (!full && addresses.size + policies.size >= expected) {
      full = true;
      process.send?.({ event: 'full', i, at: now() });
    }
    const pod = addresses.get(CHANGING)?.resource.workload;
    const rev = pod?.name === 'p-0' ? (addresses.get(CHANGING)?.version ?? '') : '';
    if (full && rev && rev !== lastRev) {
      lastRev = rev;
      process.send?.({ event: 'seen', i, version: rev, at: now() });
    }
  };
  addresses.onChange(check);
  policies.onChange(check);
  clients.push(client);
}

process.on('message', async (message: string) => {
  if (message === 'go') for (let i = offset; i < offset + count; i++) (mode === 'light' ? light : start)(i);
  else if (message === 'stop') {
    for (const close of closers) close();
    await Promise.all(clients.map((c) => c.close()));
    process.send?.('stopped', () => process.exit(0));
  }
});
process.send?.('loaded');
