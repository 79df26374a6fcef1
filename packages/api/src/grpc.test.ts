// The generated service definitions plug straight into @grpc/grpc-js, over a real HTTP/2 socket.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AggregatedDiscoveryServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from './gen/envoy.service.discovery.v3.js';
import { IstioCertificateServiceDefinition, type IstioCertificateRequest } from './gen/istio.v1.auth.js';
import { Address } from './gen/istio.workload.js';
import { fromStruct, int64ToNumber, packAny, toStruct, unpackAny } from './runtime.js';

describe('gRPC service definitions with @grpc/grpc-js', () => {
  const server = new grpc.Server();
  let address = '';

  beforeAll(async () => {
    server.addService(IstioCertificateServiceDefinition, {
      createCertificate(
        call: grpc.ServerUnaryCall<IstioCertificateRequest, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) {
        const metadata = fromStruct(call.request.metadata);
        callback(null, {
          certChain: [
            `leaf for ${String(metadata.ImpersonatedIdentity)}`,
            `ttl ${int64ToNumber(call.request.validityDuration)}`,
          ],
        });
      },
    });
    server.addService(AggregatedDiscoveryServiceDefinition, {
      deltaAggregatedResources(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) {
        call.on('data', (request: DeltaDiscoveryRequest) => {
          const address = packAny(Address, { workload: { uid: 'Kubernetes//Pod/ns/p', name: 'p' } });
          call.write({
            typeUrl: request.typeUrl,
            nonce: `nonce-for-${request.node?.id}`,
            resources: [{ name: 'Kubernetes//Pod/ns/p', version: '1', resource: address }],
          } as never);
        });
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => server.forceShutdown());

  it('serves a unary call (the Istio CA API)', async () => {
    const Client = grpc.makeGenericClientConstructor(IstioCertificateServiceDefinition, 'IstioCertificateService');
    const client = new Client(address, grpc.credentials.createInsecure()) as unknown as {
      createCertificate(request: unknown, callback: (e: Error | null, r: { certChain: string[] }) => void): void;
      close(): void;
    };
    const response = await new Promise<{ certChain: string[] }>((resolve, reject) =>
      client.createCertificate(
        {
          csr: 'PEM',
          validityDuration: 3600,
          metadata: toStruct({ ImpersonatedIdentity: 'spiffe://cluster.local/ns/a/sa/b' }),
        },
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
    client.close();
    expect(response.certChain).toEqual(['leaf for spiffe://cluster.local/ns/a/sa/b', 'ttl 3600']);
  });

  it('serves a bidirectional stream (delta ADS) carrying Any-packed resources', async () => {
    const Client = grpc.makeGenericClientConstructor(
      AggregatedDiscoveryServiceDefinition,
      'AggregatedDiscoveryService',
    );
    const client = new Client(address, grpc.credentials.createInsecure()) as unknown as {
      deltaAggregatedResources(): grpc.ClientDuplexStream<unknown, DeltaDiscoveryResponse>;
      close(): void;
    };
    const stream = client.deltaAggregatedResources();
    const first = new Promise<DeltaDiscoveryResponse>((resolve) => stream.once('data', resolve));
    stream.write({
      node: { id: 'ztunnel~10.0.0.1~z.istio-system~istio-system.svc.cluster.local' },
      typeUrl: Address.typeUrl,
    });
    const response = await first;
    const finished = new Promise((resolve) => stream.on('status', resolve));
    stream.end();
    await finished;
    client.close();
    expect(response.nonce).toBe('nonce-for-ztunnel~10.0.0.1~z.istio-system~istio-system.svc.cluster.local');
    expect(response.typeUrl).toBe('type.googleapis.com/istio.workload.Address');
    const resource = response.resources[0]!;
    const decoded = unpackAny(resource.resource!, Address);
    expect(decoded.type).toBe('workload');
    expect(decoded.workload?.uid).toBe('Kubernetes//Pod/ns/p');
    // Fields absent on the wire read as proto3 defaults.
    expect(decoded.workload?.addresses).toEqual([]);
    expect(decoded.workload?.namespace).toBe('');
    expect(decoded.service).toBeNull();
  });
});
