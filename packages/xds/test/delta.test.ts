// Our delta client against our server over real gRPC sockets: subscriptions, removals, on-demand lookups, NACKs,
// bad input, TTLs, per-client filtering and debounced pushes.
import { describe, expect, it } from 'vitest';
import { packAny } from '@mesh/api';
import { Authorization } from '@mesh/api/istio.security';
import { Address } from '@mesh/api/istio.workload';
import { MeshError } from '@mesh/core';
import {
  addressType,
  authorizationType,
  defineResourceType,
  XdsClient,
  type ResourceBatch,
  type XdsConnection,
} from '../src/index.js';
import { startTestControlPlane } from '../src/testing/index.js';
import { namesOf, nextBatch, policy, until, workload } from './helpers.js';

const node = (id: string, metadata = {}) => ({ id, metadata });

describe('delta ADS: our client and our server', () => {
  it('delivers a wildcard subscription and incremental changes as batches', async () => {
    await using cp = await startTestControlPlane();
    cp.set(addressType, [workload('a', 1), workload('b', 2)]);
    cp.set(authorizationType, [policy('deny-all')]);
    await using client = new XdsClient({ server: cp.address, node: node('ztunnel~10.0.0.9~zt.istio-system~x') });
    const addresses = client.subscribe(addressType);
    const policies = client.subscribe(authorizationType);
    await client.ready({ timeoutMs: 5_000 });
    expect(namesOf(addresses.values())).toEqual(['a', 'b']);
    expect(addresses.get('/10.0.0.2')?.name).toBe('b'); // by alias
    expect(policies.get('ns/deny-all')?.resource.name).toBe('deny-all');

    const iterator = addresses.changes()[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.cause).toBe('snapshot');
    const next = nextBatch(addresses);
    cp.update(addressType, { set: [workload('a', 11), workload('c', 3)], remove: ['b'] });
    const batch = await next;
    expect(namesOf(batch.updated)).toEqual(['a', 'c']);
    expect(batch.removed).toEqual(['b']);
    // The iterator sees the same step (later batches merge into it while it waits).
    const step = (await iterator.next()).value as ResourceBatch<Address>;
    expect([namesOf(step.updated), step.removed]).toEqual([['a', 'c'], ['b']]);
    expect(addresses.get('/10.0.0.11')?.name).toBe('a');
    await iterator.return?.();

    await cp.synced(addressType);
    const [status] = cp.server.status();
    const types = Object.fromEntries(status!.types.map((t) => [t.typeUrl, t]));
    expect(types[addressType.typeUrl]).toMatchObject({ status: 'SYNCED', wildcard: true, resources: 2 });
    expect(client.snapshot().subscriptions.find((s) => s.typeUrl === addressType.typeUrl)?.lastNack).toBeNull();
  });

  it('subscribes and unsubscribes names at runtime, and answers names that do not exist', async () => {
    await using cp = await startTestControlPlane();
    cp.set(authorizationType, [policy('a'), policy('b'), policy('c')]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const policies = client.subscribe(authorizationType, { names: ['ns/a'] });
    await policies.ready({ timeoutMs: 5_000 });
    expect(namesOf(policies.values())).toEqual(['ns/a']);

    const added = nextBatch(policies);
    policies.subscribe(['ns/b', 'ns/missing']);
    expect(namesOf((await added).updated)).toEqual(['ns/b']);
    expect(await policies.lookup('ns/missing', { timeoutMs: 5_000 })).toBeUndefined();

    const dropped = nextBatch(policies);
    policies.unsubscribe(['ns/a']);
    expect((await dropped).removed).toEqual(['ns/a']); // dropped locally, in one batch
    expect((await dropped).cause).toBe('unsubscribe');
    // The server no longer sends it.
    cp.update(authorizationType, { set: [policy('a', 'ns', { dryRun: true }), policy('b', 'ns', { dryRun: true })] });
    const changed = await nextBatch(policies);
    expect(namesOf(changed.updated)).toEqual(['ns/b']);
    expect(policies.has('ns/a')).toBe(false);
  });

  it('looks workloads up on demand by network/ip (ztunnel on-demand mode)', async () => {
    await using cp = await startTestControlPlane();
    cp.set(addressType, [workload('a', 1), workload('b', 2)]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const addresses = client.subscribe(addressType, { names: [] });
    await addresses.ready();
    const connection = await cp.connection();
    await cp.synced(addressType);
    const first = cp.deltaRequests(addressType)[0]!;
    expect(cp.requests[0]!.connectionId).toBe(connection.id);
    expect([first.resourceNamesSubscribe, first.resourceNamesUnsubscribe]).toEqual([['*'], ['*']]);
    expect(addresses.size).toBe(0);

    expect((await addresses.lookup('/10.0.0.2', { timeoutMs: 5_000 }))?.name).toBe('b');
    expect(addresses.size).toBe(1);
    expect(await addresses.lookup('/10.0.0.99', { timeoutMs: 5_000 })).toBeUndefined();
    // A workload appearing later at a looked-up address arrives by itself.
    const arrived = nextBatch(addresses);
    cp.update(addressType, { set: [workload('z', 99)] });
    expect(namesOf((await arrived).updated)).toEqual(['z']);
  });

  it('NACKs a resource its validator rejects, keeps the last good copy, and recovers', async () => {
    await using cp = await startTestControlPlane();
    const strict = defineResourceType({
      codec: Authorization,
      nameOf: (a) => `${a.namespace}/${a.name}`,
      validate: (a) => (a.dryRun ? 'dry-run policies are not supported here' : undefined),
    });
    cp.set(authorizationType, [policy('a'), policy('b')]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const nacks: string[] = [];
    client.on('nack', (e) => nacks.push(e.message));
    const policies = client.subscribe(strict);
    await policies.ready();
    const good = policies.get('ns/a');

    const nack = cp.nextNack(authorizationType);
    const applied = nextBatch(policies);
    cp.update(authorizationType, { set: [policy('a', 'ns', { dryRun: true }), policy('b', 'ns', { scope: 2 })] });
    const event = await nack;
    expect(event.message).toBe('resource "ns/a" (index 0) is invalid: dry-run policies are not supported here');
    expect((await applied).updated.map((r) => r.name)).toEqual(['ns/b']); // partial acceptance
    expect(policies.get('ns/a')).toBe(good); // last good copy still served
    expect(nacks).toHaveLength(1);
    await expect(cp.synced(authorizationType)).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_NACK'));
    const status = cp.server.status()[0]!.types[0]!;
    expect(status).toMatchObject({ status: 'NACK', lastNack: { code: 3, message: event.message } });
    expect(client.snapshot().subscriptions[0]!.lastNack?.message).toBe(event.message);

    cp.update(authorizationType, { set: [policy('a', 'ns', { dryRun: false, scope: 1 })] });
    await cp.synced(authorizationType);
    expect(policies.get('ns/a')?.resource.scope).toBe(1);
  });

  it('NACKs bad input with a clear reason and the stream survives', async () => {
    await using cp = await startTestControlPlane();
    cp.set(authorizationType, [policy('a')]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const policies = client.subscribe(authorizationType);
    await policies.ready();
    await cp.synced(authorizationType);

    const unknown = cp.nextNack('type.googleapis.com/example.Unknown');
    cp.inject({ typeUrl: 'type.googleapis.com/example.Unknown', resources: [] });
    expect((await unknown).message).toBe(
      'response for type.googleapis.com/example.Unknown, which this client did not subscribe to',
    );
    const again = cp.nextNack('type.googleapis.com/example.Unknown');
    cp.inject({ typeUrl: 'type.googleapis.com/example.Unknown', resources: [] });
    expect((await again).message).toMatch(/did not subscribe/); // still NACKed the second time

    const bad = cp.nextNack(authorizationType);
    cp.inject({
      typeUrl: authorizationType.typeUrl,
      resources: [
        {
          name: 'ns/x',
          version: '1',
          resource: { typeUrl: authorizationType.typeUrl, value: Uint8Array.of(0x0a, 0x05) },
        },
        { name: 'ns/y', version: '1', resource: { typeUrl: Address.typeUrl, value: new Uint8Array() } },
        { name: 'ns/d', version: '1', resource: packAny(Authorization, { name: 'd', namespace: 'ns' }) },
        { name: 'ns/d', version: '2', resource: packAny(Authorization, { name: 'd', namespace: 'ns' }) },
      ],
    });
    const reasons = (await bad).message.split('; ');
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/^resource "ns\/x" \(index 0\) cannot be decoded: /);
    expect(reasons[1]).toBe(
      'resource "ns/y" (index 1) is type.googleapis.com/istio.workload.Address, not type.googleapis.com/istio.security.Authorization',
    );
    expect(reasons[2]).toBe('resource "ns/d" appears 2 times (indices 2, 3), so every copy is rejected');
    expect(namesOf(policies.values())).toEqual(['ns/a']);

    // Same stream, still working.
    const connection = (await cp.connection()).id;
    const next = nextBatch(policies);
    cp.update(authorizationType, { set: [policy('b')] });
    expect(namesOf((await next).updated)).toEqual(['ns/b']);
    expect((await cp.connection()).id).toBe(connection);
    expect(client.snapshot().disconnects).toBe(0);
  });

  it('drops resources whose TTL runs out and keeps refreshed ones', async () => {
    await using cp = await startTestControlPlane();
    cp.set(authorizationType, [{ ...policy('short'), ttlMs: 150 }, policy('forever')]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const policies = client.subscribe(authorizationType);
    const first = nextBatch(policies);
    const expiry = nextBatch(policies, (b) => b.cause === 'ttl', 10_000);
    expect((await first).updated.find((r) => r.name === 'ns/short')?.ttlMs).toBe(150);
    const expired = await expiry;
    expect(expired.removed).toEqual(['ns/short']);
    expect(namesOf(policies.values())).toEqual(['ns/forever']);
  });

  it('filters per client, re-evaluating on demand', async () => {
    const visible = new Map<string, Set<string>>([['a', new Set(['ns1'])]]);
    await using cp = await startTestControlPlane({
      filter: (connection: XdsConnection, resource) =>
        visible.get(connection.nodeId)?.has((resource.resource as Authorization).namespace) ?? true,
    });
    cp.set(authorizationType, [policy('p', 'ns1'), policy('q', 'ns2')]);
    await using a = new XdsClient({ server: cp.address, node: node('a') });
    await using b = new XdsClient({ server: cp.address, node: node('b') });
    const pa = a.subscribe(authorizationType);
    const pb = b.subscribe(authorizationType);
    await Promise.all([pa.ready(), pb.ready()]);
    expect([namesOf(pa.values()), namesOf(pb.values())]).toEqual([['ns1/p'], ['ns1/p', 'ns2/q']]);

    visible.set('a', new Set(['ns2']));
    const change = nextBatch(pa);
    cp.server.refilter();
    const batch = await change;
    expect([namesOf(batch.updated), batch.removed]).toEqual([['ns2/q'], ['ns1/p']]);
    await cp.synced(authorizationType);
    expect(namesOf(pb.values())).toEqual(['ns1/p', 'ns2/q']); // b untouched
  });

  it('debounces updates made together into one push per connection', async () => {
    await using cp = await startTestControlPlane({ debounce: { delayMs: 20, maxDelayMs: 200 } });
    cp.set(addressType, [workload('a', 1)]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const addresses = client.subscribe(addressType);
    await addresses.ready();
    await cp.synced(addressType);
    const pushes: number[] = [];
    cp.server.on('push', (e) => pushes.push(e.resources));
    cp.update(addressType, { set: [workload('b', 2)] });
    cp.update(addressType, { set: [workload('c', 3)] });
    cp.update(addressType, { set: [workload('a', 4)], remove: ['b'] });
    await cp.synced(addressType);
    expect(pushes).toEqual([2]); // a and c; b came and went within the same window
    expect(namesOf(addresses.values())).toEqual(['a', 'c']);
  });

  it('closes a subscription: the server stops sending, iterators end', async () => {
    await using cp = await startTestControlPlane();
    cp.set(authorizationType, [policy('a')]);
    cp.set(addressType, [workload('a', 1)]);
    await using client = new XdsClient({ server: cp.address, node: node('n') });
    const policies = client.subscribe(authorizationType);
    const addresses = client.subscribe(addressType);
    await client.ready();
    const iteration = (async () => {
      const seen: string[] = [];
      for await (const batch of policies) seen.push(batch.cause);
      return seen;
    })();
    policies.close();
    expect(await iteration).toEqual(['snapshot']);
    await until(
      () => cp.server.status()[0]?.types.find((t) => t.typeUrl === authorizationType.typeUrl)?.subscribed,
      'x',
    );
    const unsubscribed = await until(
      () => cp.deltaRequests(authorizationType).some((r) => r.resourceNamesUnsubscribe.includes('*')),
      'the unsubscribe request',
    );
    expect(unsubscribed).toBe(true);
    cp.update(authorizationType, { set: [policy('b')] });
    cp.update(addressType, { set: [workload('b', 2)] });
    await cp.synced(addressType);
    expect(client.subscribe(authorizationType)).toBeDefined(); // the type can be subscribed again
    expect(() => client.subscribe(addressType)).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_DUPLICATE_SUBSCRIPTION')),
    );
    expect(addresses.size).toBe(2);
  });

  it('shares one encoded frame among subscribers getting the same big push, with a bounded number in flight', async () => {
    await using cp = await startTestControlPlane({ maxConcurrentPushes: 1 });
    cp.set(
      addressType,
      Array.from({ length: 600 }, (_, i) => workload(`w${i}`, i % 250, { namespace: `ns-${i}` })),
    );
    const pushes: Array<{ node: string; nonce: string; bytes: number }> = [];
    cp.server.on('push', (e) => pushes.push({ node: e.connection.nodeId, nonce: e.nonce, bytes: e.bytes }));
    const clients = ['a', 'b', 'c'].map((id) => new XdsClient({ server: cp.address, node: node(id) }));
    try {
      const subscriptions = clients.map((c) => c.subscribe(addressType));
      await Promise.all(subscriptions.map((s) => s.ready({ timeoutMs: 10_000 })));
      await cp.synced(addressType);
      expect(subscriptions.map((s) => s.size)).toEqual([600, 600, 600]);
      const big = pushes.filter((p) => p.bytes > 64 * 1024);
      expect(big).toHaveLength(3);
      expect(new Set(big.map((p) => p.nonce)).size).toBe(1); // one frame, one nonce, three streams
      // A later identical push to the same stream never reuses a nonce it has seen.
      subscriptions[0]!.unsubscribe(['*']);
      subscriptions[0]!.subscribe(['*']);
      const bigToA = () => pushes.filter((p) => p.node === 'a' && p.bytes > 64 * 1024).map((p) => p.nonce);
      await until(() => bigToA().length === 2, 'the second full push');
      expect(new Set(bigToA()).size).toBe(2);
      await cp.synced(addressType);
      expect(subscriptions[0]!.size).toBe(600);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
