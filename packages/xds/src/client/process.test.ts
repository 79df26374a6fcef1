import { describe, expect, it } from 'vitest';
import { packAny } from '@mesh/api';
import { ClusterLoadAssignment } from '@mesh/api/envoy.config.endpoint.v3';
import { Listener } from '@mesh/api/envoy.config.listener.v3';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '@mesh/api/envoy.service.discovery.v3';
import { Authorization } from '@mesh/api/istio.security';
import { authorizationType, clusterLoadAssignmentType, defineResourceType, listenerType } from '../resource-type.js';
import { processDelta, processSotw } from './process.js';
import { ResourceState } from './state.js';

const policy = (name: string, version = 'v1', aliases: string[] = []) => ({
  name: `ns/${name}`,
  version,
  aliases,
  resource: packAny(Authorization, { name, namespace: 'ns' }),
});
const delta = (fields: Parameters<typeof DeltaDiscoveryResponse.create>[0]) =>
  DeltaDiscoveryResponse.decode(
    DeltaDiscoveryResponse.encode({ typeUrl: Authorization.typeUrl, nonce: 'n', ...fields }),
  );
const sotw = (typeUrl: string, resources: ReturnType<typeof packAny>[], versionInfo = '1') =>
  DiscoveryResponse.decode(DiscoveryResponse.encode({ typeUrl, versionInfo, nonce: 'n', resources }));

describe('processDelta', () => {
  it('applies new versions, skips held ones, notices alias changes', () => {
    const state = new ResourceState<Authorization>();
    const first = processDelta(authorizationType, state, delta({ resources: [policy('a'), policy('b')] }), 1);
    for (const entry of first.updated) state.put(entry);
    const again = processDelta(
      authorizationType,
      state,
      delta({ resources: [policy('a'), policy('b', 'v1', ['x']), policy('c', '')] }),
      2,
    );
    expect(again.updated.map((e) => e.name)).toEqual(['ns/b', 'ns/c']);
    expect(again.refreshed).toEqual(['ns/a']);
    expect(again.errors).toEqual([]);
  });

  it('rejects unnamed resources and names both updated and removed', () => {
    const state = new ResourceState<Authorization>();
    const out = processDelta(
      authorizationType,
      state,
      delta({ resources: [{ ...policy('a'), name: '' }, policy('b')], removedResources: ['ns/b'] }),
      1,
    );
    expect(out.errors.map((e) => e.code)).toEqual(['ERR_XDS_INVALID_RESOURCE', 'ERR_XDS_PROTOCOL']);
    expect(out.errors[0]!.message).toMatch(/index 0 has no name/);
    expect(out.updated.map((e) => e.name)).toEqual(['ns/b']);
  });

  it('rejects resources its validator refuses (and validators that throw)', () => {
    const strict = defineResourceType({
      codec: Authorization,
      validate: (a) => {
        if (a.name === 'boom') throw new Error('exploded');
        return a.name.startsWith('ok') ? undefined : 'name must start with ok';
      },
    });
    const out = processDelta(
      strict,
      new ResourceState(),
      delta({ resources: [policy('okay'), policy('nope'), policy('boom')] }),
      1,
    );
    expect(out.updated.map((e) => e.name)).toEqual(['ns/okay']);
    expect(out.errors.map((e) => e.message)).toEqual([
      'resource "ns/nope" (index 1) is invalid: name must start with ok',
      'resource "ns/boom" (index 2) is invalid: exploded',
    ]);
  });
});

describe('processSotw', () => {
  const listener = (name: string, port = 0) =>
    packAny(Listener, { name, ...(port ? { address: { socketAddress: { portValue: port } } } : {}) });

  it('ignores resources nobody asked for on named subscriptions', () => {
    const out = processSotw(
      clusterLoadAssignmentType,
      new ResourceState(),
      new Map(),
      sotw(ClusterLoadAssignment.typeUrl, [
        packAny(ClusterLoadAssignment, { clusterName: 'wanted' }),
        packAny(ClusterLoadAssignment, { clusterName: 'other' }),
      ]),
      { wildcard: false, names: new Set(['wanted']) },
      1,
    );
    expect(out.updated.map((e) => e.name)).toEqual(['wanted']);
  });

  it('does not delete what a partial RDS/EDS response leaves out', () => {
    const state = new ResourceState<ClusterLoadAssignment>();
    const interest = { wildcard: false, names: new Set(['a', 'b']) };
    const first = processSotw(
      clusterLoadAssignmentType,
      state,
      new Map(),
      sotw(ClusterLoadAssignment.typeUrl, [
        packAny(ClusterLoadAssignment, { clusterName: 'a' }),
        packAny(ClusterLoadAssignment, { clusterName: 'b' }),
      ]),
      interest,
      1,
    );
    for (const entry of first.updated) state.put(entry);
    const second = processSotw(
      clusterLoadAssignmentType,
      state,
      first.bodies,
      sotw(ClusterLoadAssignment.typeUrl, [packAny(ClusterLoadAssignment, { clusterName: 'a' })], '2'),
      interest,
      2,
    );
    expect([second.updated, second.removed, second.refreshed]).toEqual([[], [], ['a']]);
  });

  it('keeps a held listener the response names but that fails validation, and reports unchanged ones', () => {
    const strict = defineResourceType({
      codec: Listener,
      nameOf: (l) => l.name,
      validate: (l) => (l.address?.socketAddress?.portValue === 666 ? 'port 666 is cursed' : undefined),
    });
    const state = new ResourceState<Listener>();
    const interest = { wildcard: true, names: new Set<string>() };
    const first = processSotw(
      strict,
      state,
      new Map(),
      sotw(Listener.typeUrl, [listener('a'), listener('b')]),
      interest,
      1,
    );
    for (const entry of first.updated) state.put(entry);
    const second = processSotw(
      strict,
      state,
      first.bodies,
      sotw(Listener.typeUrl, [listener('a'), listener('b', 666)], '2'),
      interest,
      2,
    );
    expect(second.errors.map((e) => e.code)).toEqual(['ERR_XDS_INVALID_RESOURCE']);
    expect([second.updated, second.removed, second.refreshed]).toEqual([[], [], ['a']]);
    expect(second.bodies.size).toBe(2);
  });

  it('needs a name for every resource', () => {
    const nameless = defineResourceType({ codec: Listener });
    const out = processSotw(
      nameless,
      new ResourceState(),
      new Map(),
      sotw(Listener.typeUrl, [listener('a')]),
      { wildcard: true, names: new Set() },
      1,
    );
    expect(out.errors.map((e) => e.code)).toEqual(['ERR_XDS_INVALID_OPTIONS']);
    const unnamed = processSotw(
      listenerType,
      new ResourceState(),
      new Map(),
      sotw(Listener.typeUrl, [listener('')]),
      { wildcard: true, names: new Set() },
      1,
    );
    expect(unnamed.errors.map((e) => e.message)).toEqual(['resource index 0 has no name']);
  });

  it('deletes nothing when a rejected resource of a full-state response cannot be named', () => {
    const state = new ResourceState<Listener>();
    state.put({ name: 'held', version: '1', aliases: [], resource: Listener.create({ name: 'held' }), updatedAt: 0 });
    const out = processSotw(
      listenerType,
      state,
      new Map(),
      sotw(Listener.typeUrl, [listener('other'), { typeUrl: Listener.typeUrl, value: Uint8Array.of(0x0a, 0x09) }]),
      { wildcard: true, names: new Set() },
      1,
    );
    expect([out.updated.map((e) => e.name), out.removed, out.errors.map((e) => e.code)]).toEqual([
      ['other'],
      [],
      ['ERR_XDS_DECODE'],
    ]);
  });
});
