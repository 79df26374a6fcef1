// Our state-of-the-world client against our server: Listener/Cluster full-state semantics, named RDS/EDS, NACKs
// that keep the accepted version, bad input.
import { describe, expect, it } from 'vitest';
import { packAny } from '@mesh/api';
import { Cluster, Cluster_LbPolicy } from '@mesh/api/envoy.config.cluster.v3';
import { MeshError } from '@mesh/core';
import {
  clusterLoadAssignmentType,
  clusterType,
  defineResourceType,
  listenerType,
  routeConfigurationType,
  XdsClient,
} from '../src/index.js';
import { startTestControlPlane } from '../src/testing/index.js';
import { namesOf, nextBatch } from './helpers.js';

const named = (name: string, extra: Record<string, unknown> = {}) => ({ resource: { name, ...extra } });

describe('SotW ADS: our client and our server', () => {
  it('deletes Listeners/Clusters missing from a response, never routes or endpoints', async () => {
    await using cp = await startTestControlPlane();
    cp.set(listenerType, [named('l1'), named('l2')]);
    cp.set(routeConfigurationType, [named('r1'), named('r2')]);
    cp.set(clusterLoadAssignmentType, [{ resource: { clusterName: 'e1' } }]);
    await using client = new XdsClient({ server: cp.address, protocol: 'sotw', node: { id: 'g' } });
    const listeners = client.subscribe(listenerType);
    const routes = client.subscribe(routeConfigurationType, { names: ['r1', 'r2'] });
    const endpoints = client.subscribe(clusterLoadAssignmentType, { names: ['e1'] });
    expect(routeConfigurationType.wildcard).toBe(false);
    await client.ready({ timeoutMs: 5_000 });
    expect([namesOf(listeners.values()), namesOf(routes.values()), namesOf(endpoints.values())]).toEqual([
      ['l1', 'l2'],
      ['r1', 'r2'],
      ['e1'],
    ]);

    const listenerGone = nextBatch(listeners);
    cp.remove(listenerType, ['l2']);
    expect((await listenerGone).removed).toEqual(['l2']);
    // A route the server no longer has is not deleted by SotW (no deletion mechanism for RDS); unsubscribing is.
    cp.remove(routeConfigurationType, ['r2']);
    await cp.synced(routeConfigurationType);
    expect(namesOf(routes.values())).toEqual(['r1', 'r2']);
    const dropped = nextBatch(routes);
    routes.unsubscribe(['r2']);
    expect((await dropped).removed).toEqual(['r2']);

    // Every response repeats the whole set: consumers only see what changed.
    const changed = nextBatch(listeners);
    cp.update(listenerType, { set: [named('l3')] });
    const batch = await changed;
    expect([namesOf(batch.updated), batch.removed]).toEqual([['l3'], []]);
    await cp.synced(listenerType);
    expect(cp.sotwRequests(listenerType).at(-1)!.versionInfo).toBe(client.snapshot().subscriptions[0]!.version);
  });

  it('NACKs with the last accepted version, keeps the good state, and the stream survives bad input', async () => {
    await using cp = await startTestControlPlane();
    const strict = defineResourceType({
      codec: Cluster,
      nameOf: (c) => c.name,
      validate: (c) => (c.lbPolicy === Cluster_LbPolicy.MAGLEV ? 'MAGLEV is not supported' : undefined),
    });
    cp.set(clusterType, [named('a'), named('b')]);
    await using client = new XdsClient({ server: cp.address, protocol: 'sotw', node: { id: 'g' } });
    const clusters = client.subscribe(strict);
    await clusters.ready();
    await cp.synced(clusterType);
    const accepted = client.snapshot().subscriptions[0]!.version;
    const good = clusters.get('a');

    const nack = cp.nextNack(clusterType);
    cp.update(clusterType, { set: [named('a', { lbPolicy: Cluster_LbPolicy.MAGLEV }), named('c')] });
    const event = await nack;
    expect(event.message).toBe('resource "a" (index 0) is invalid: MAGLEV is not supported');
    expect(event.version).toBe(accepted); // version_info of a NACK = last accepted
    await expect(cp.synced(clusterType)).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_NACK'));
    expect(clusters.get('a')).toBe(good);
    expect(namesOf(clusters.values())).toEqual(['a', 'b', 'c']); // c applied (partial acceptance), a kept

    const bad = cp.nextNack(clusterType);
    cp.inject({
      typeUrl: clusterType.typeUrl,
      versionInfo: 'x',
      resources: [
        packAny(Cluster, { name: 'd' }),
        packAny(Cluster, { name: 'd' }),
        { typeUrl: clusterType.typeUrl, value: Uint8Array.of(0x0a, 0x09) },
      ],
    });
    expect((await bad).message).toMatch(
      /^resource index 2 cannot be decoded: .*; resource "d" appears 2 times \(indices 0, 1\), so every copy is rejected$/,
    );
    // Full state, but one rejected resource has no readable name (it could be any held cluster): nothing is deleted.
    // d, duplicated, never arrives.
    expect(namesOf(clusters.values())).toEqual(['a', 'b', 'c']);

    cp.update(clusterType, { set: [named('a'), named('e')] });
    await cp.synced(clusterType);
    expect(namesOf(clusters.values())).toEqual(['a', 'b', 'c', 'e']);
    expect(client.snapshot().disconnects).toBe(0);
  });
});
