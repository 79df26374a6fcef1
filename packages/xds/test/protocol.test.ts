// Each side held to the transport protocol by a bare peer that sends and checks messages one by one
// (xds-spiffe-ca.md §1.3-1.7, §1.11): our server against a scripted client, our client against a scripted server.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { packAny } from '@mesh/api';
import { Cluster } from '@mesh/api/envoy.config.cluster.v3';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '@mesh/api/envoy.service.discovery.v3';
import { Authorization } from '@mesh/api/istio.security';
import { Address } from '@mesh/api/istio.workload';
import { addressType, authorizationType, clusterType, XdsClient } from '../src/index.js';
import { startTestControlPlane } from '../src/testing/index.js';
import { namesOf, policy, rawClient, rawServer, until, workload } from './helpers.js';

const names = (r: DeltaDiscoveryResponse) => r.resources.map((x) => x.name).sort();

describe('our server, driven by a scripted client', () => {
  it('delta: honours subscription changes that carry a stale nonce (Istio drops them)', async () => {
    await using cp = await startTestControlPlane();
    cp.set(authorizationType, [policy('a'), policy('b')]);
    const raw = rawClient(cp.address, 'delta');
    try {
      raw.send({ node: { id: 'n' }, typeUrl: authorizationType.typeUrl, resourceNamesSubscribe: ['ns/a'] });
      const first = (await raw.responses.next()) as DeltaDiscoveryResponse;
      expect(names(first)).toEqual(['ns/a']);
      cp.update(authorizationType, { set: [policy('a', 'ns', { dryRun: true })] });
      const second = (await raw.responses.next()) as DeltaDiscoveryResponse;
      // ACK the first response only (stale now) and subscribe to b in the same request.
      raw.send({ typeUrl: authorizationType.typeUrl, responseNonce: first.nonce, resourceNamesSubscribe: ['ns/b'] });
      const third = (await raw.responses.next()) as DeltaDiscoveryResponse;
      expect(names(third)).toEqual(['ns/b']);
      expect(second.nonce).not.toBe(third.nonce);
      expect(first.systemVersionInfo).not.toBe(''); // the type's revision, for debugging
    } finally {
      raw.close();
    }
  });

  it('delta: answers the first request even with nothing, and unknown names in removed_resources', async () => {
    await using cp = await startTestControlPlane();
    const raw = rawClient(cp.address, 'delta');
    try {
      raw.send({ node: { id: 'n' }, typeUrl: addressType.typeUrl });
      const empty = (await raw.responses.next()) as DeltaDiscoveryResponse;
      expect([empty.resources, empty.removedResources, empty.typeUrl]).toEqual([[], [], addressType.typeUrl]);
      raw.send({ typeUrl: addressType.typeUrl, responseNonce: empty.nonce });
      raw.send({ typeUrl: 'type.googleapis.com/example.Nothing', resourceNamesSubscribe: ['x', 'y'] });
      const missing = (await raw.responses.next()) as DeltaDiscoveryResponse;
      expect([missing.typeUrl, missing.removedResources]).toEqual(['type.googleapis.com/example.Nothing', ['x', 'y']]);
    } finally {
      raw.close();
    }
  });

  it('delta: a NACK is recorded and not answered', async () => {
    await using cp = await startTestControlPlane();
    cp.set(addressType, [workload('a', 1)]);
    const raw = rawClient(cp.address, 'delta');
    try {
      raw.send({ node: { id: 'n' }, typeUrl: addressType.typeUrl });
      const first = (await raw.responses.next()) as DeltaDiscoveryResponse;
      const nack = cp.nextNack(addressType);
      raw.send({ typeUrl: addressType.typeUrl, responseNonce: first.nonce, errorDetail: { code: 13, message: 'no' } });
      expect(await nack).toMatchObject({ nonce: first.nonce, code: 13, message: 'no', known: true });
      expect(await raw.responses.nothingWithin(50)).toBe(true);
    } finally {
      raw.close();
    }
  });

  it('SotW: ignores stale nonces, never answers a NACK, answers new names only', async () => {
    await using cp = await startTestControlPlane();
    cp.set(clusterType, [{ resource: { name: 'a' } }, { resource: { name: 'b' } }]);
    const raw = rawClient(cp.address, 'sotw');
    const type = clusterType.typeUrl;
    try {
      raw.send({ node: { id: 'n' }, typeUrl: type, resourceNames: ['a'] });
      const first = (await raw.responses.next()) as DiscoveryResponse;
      expect(first.resources.map((r) => Cluster.decode(r.value).name)).toEqual(['a']);
      cp.update(clusterType, { set: [{ resource: { name: 'a', lbPolicy: 1 } }] });
      const second = (await raw.responses.next()) as DiscoveryResponse;
      // A request with the stale first nonce and a new name: ignored (the client will ACK the second one).
      raw.send({
        typeUrl: type,
        versionInfo: first.versionInfo,
        responseNonce: first.nonce,
        resourceNames: ['a', 'b'],
      });
      // A NACK of the second: recorded, not answered.
      raw.send({
        typeUrl: type,
        versionInfo: first.versionInfo,
        responseNonce: second.nonce,
        resourceNames: ['a'],
        errorDetail: { code: 3, message: 'x' },
      });
      expect(await raw.responses.nothingWithin(50)).toBe(true);
      // An ACK of the second that drops nothing and adds b: answered with the whole subscribed set.
      raw.send({
        typeUrl: type,
        versionInfo: second.versionInfo,
        responseNonce: second.nonce,
        resourceNames: ['a', 'b'],
      });
      const third = (await raw.responses.next()) as DiscoveryResponse;
      expect(third.resources.map((r) => Cluster.decode(r.value).name)).toEqual(['a', 'b']);
      // Dropping a name needs no answer.
      raw.send({ typeUrl: type, versionInfo: third.versionInfo, responseNonce: third.nonce, resourceNames: ['b'] });
      expect(await raw.responses.nothingWithin(50)).toBe(true);
      const status = cp.server.status()[0]!.types[0]!;
      expect(status).toMatchObject({ status: 'SYNCED', subscribed: ['b'], lastNack: { message: 'x' } });
    } finally {
      raw.close();
    }
  });

  it('refuses a request without type_url', async () => {
    await using cp = await startTestControlPlane();
    const raw = rawClient(cp.address, 'sotw');
    raw.send({ node: { id: 'n' } });
    expect((await raw.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    raw.close();
  });
});

describe('our client, driven by a scripted server', () => {
  it('delta: node on the first request only, nonce-only ACKs, NACKs with error_detail, no nonce on subscription changes', async () => {
    await using server = await rawServer();
    await using client = new XdsClient({ server: server.address, node: { id: 'zt', cluster: 'Kubernetes' } });
    const policies = client.subscribe(authorizationType);
    const addresses = client.subscribe(addressType, { names: [] });
    const stream = await server.streams.next();
    const first = await stream.requests.next();
    const second = await stream.requests.next();
    expect([first.node?.id, first.node?.cluster, second.node]).toEqual(['zt', 'Kubernetes', null]);
    expect([first.typeUrl, first.resourceNamesSubscribe, first.resourceNamesUnsubscribe]).toEqual([
      authorizationType.typeUrl,
      [],
      [],
    ]);
    expect([second.resourceNamesSubscribe, second.resourceNamesUnsubscribe]).toEqual([['*'], ['*']]);

    stream.send({
      typeUrl: authorizationType.typeUrl,
      nonce: 'n1',
      resources: [{ name: 'ns/a', version: '1', resource: packAny(Authorization, { name: 'a', namespace: 'ns' }) }],
    });
    const ack = await stream.requests.next();
    expect([ack.typeUrl, ack.responseNonce, ack.errorDetail, ack.resourceNamesSubscribe]).toEqual([
      authorizationType.typeUrl,
      'n1',
      null,
      [],
    ]);
    stream.send({
      typeUrl: authorizationType.typeUrl,
      nonce: 'n2',
      resources: [{ name: 'ns/b', version: '1', resource: packAny(Authorization, { namespace: 'ns' }) }],
    });
    const nack = await stream.requests.next();
    expect([nack.responseNonce, nack.errorDetail?.code, nack.errorDetail?.message]).toEqual([
      'n2',
      3,
      'resource "ns/b" (index 0) is invalid: authorization policy has an empty name',
    ]);

    addresses.subscribe(['/10.0.0.1']);
    const change = await stream.requests.next();
    expect([change.typeUrl, change.resourceNamesSubscribe, change.responseNonce]).toEqual([
      addressType.typeUrl,
      ['/10.0.0.1'],
      '',
    ]);
    expect(namesOf(policies.values())).toEqual(['ns/a']);
  });

  it('delta: resubscribes on a new stream with everything it holds and the full subscription', async () => {
    await using server = await rawServer();
    await using client = new XdsClient({
      server: server.address,
      node: { id: 'zt' },
      backoff: { initialMs: 10, maxMs: 50 },
    });
    const addresses = client.subscribe(addressType, { names: ['*', 'extra'] });
    const stream = await server.streams.next();
    expect((await stream.requests.next()).resourceNamesSubscribe).toEqual(['*', 'extra']);
    stream.send({
      typeUrl: addressType.typeUrl,
      nonce: 'n1',
      resources: [
        { name: 'a', version: 'va', resource: packAny(Address, workload('a', 1).resource) },
        { name: 'b', version: 'vb', resource: packAny(Address, workload('b', 2).resource) },
      ],
    });
    await stream.requests.next(); // ACK
    stream.end(grpc.status.UNAVAILABLE);
    const again = await server.streams.next();
    const resubscribe = await again.requests.next();
    expect([
      resubscribe.node?.id,
      resubscribe.resourceNamesSubscribe,
      resubscribe.initialResourceVersions,
      resubscribe.responseNonce,
    ]).toEqual(['zt', ['*', 'extra'], { a: 'va', b: 'vb' }, '']);
    expect(namesOf(addresses.values())).toEqual(['a', 'b']);
  });

  it('SotW: ACK echoes version and nonce, NACK keeps the last accepted version, reconnect sends it with no nonce', async () => {
    await using server = await rawServer();
    await using client = new XdsClient({
      server: server.address,
      protocol: 'sotw',
      node: { id: 'g' },
      backoff: { initialMs: 10, maxMs: 50 },
    });
    client.subscribe(clusterType, { names: ['a'] });
    const stream = await server.streams.next();
    const first = await stream.requests.next();
    expect([first.node?.id, first.versionInfo, first.responseNonce, first.resourceNames]).toEqual(['g', '', '', ['a']]);
    stream.send({
      typeUrl: clusterType.typeUrl,
      versionInfo: 'v1',
      nonce: 'n1',
      resources: [packAny(Cluster, { name: 'a' })],
    });
    const ack = await stream.requests.next();
    expect([ack.versionInfo, ack.responseNonce, ack.resourceNames, ack.errorDetail, ack.node]).toEqual([
      'v1',
      'n1',
      ['a'],
      null,
      null,
    ]);
    stream.send({
      typeUrl: clusterType.typeUrl,
      versionInfo: 'v2',
      nonce: 'n2',
      resources: [packAny(Cluster, { name: '' })],
    });
    const nack = await stream.requests.next();
    expect([nack.versionInfo, nack.responseNonce, nack.errorDetail?.message]).toEqual([
      'v1',
      'n2',
      'resource index 0 has no name',
    ]);
    stream.end();
    const again = await server.streams.next();
    const resubscribe = await again.requests.next();
    expect([resubscribe.versionInfo, resubscribe.responseNonce, resubscribe.resourceNames]).toEqual(['v1', '', ['a']]);
    await until(() => client.snapshot().subscriptions[0]!.lastNack?.nonce === 'n2', 'the NACK in the snapshot');
  });
});
