import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { addressType, authorizationType, clusterType } from '../resource-type.js';
import { ResourceStore } from './store.js';

const workload = (uid: string, ip: number, name = uid) => ({
  resource: { workload: { uid, name, addresses: [Uint8Array.of(10, 0, 0, ip)] } },
});

describe('ResourceStore', () => {
  it('names, aliases and versions resources by content', () => {
    const store = new ResourceStore();
    const changed = store.apply(addressType, { set: [workload('u1', 1)] }, false);
    expect([...changed]).toEqual(['u1']);
    const entry = store.type(addressType.typeUrl)!.byName.get('u1')!;
    expect(entry.aliases).toEqual(['/10.0.0.1']);
    expect(entry.version).toMatch(/^[\w-]{16}$/);
    // The same content in another store (a restarted server) gets the same version.
    const other = new ResourceStore();
    other.apply(addressType, { set: [workload('u1', 1)] }, false);
    expect(other.type(addressType.typeUrl)!.byName.get('u1')!.version).toBe(entry.version);
    expect(
      store
        .type(addressType.typeUrl)!
        .resolve('/10.0.0.1')
        .map((e) => e.name),
    ).toEqual(['u1']);
  });

  it('reports only real changes', () => {
    const store = new ResourceStore();
    store.apply(addressType, { set: [workload('u1', 1), workload('u2', 2)] }, false);
    const revision = store.type(addressType.typeUrl)!.revision;
    expect(store.apply(addressType, { set: [workload('u1', 1)] }, false).size).toBe(0);
    expect(store.type(addressType.typeUrl)!.revision).toBe(revision);
    expect([...store.apply(addressType, { set: [workload('u1', 3)], remove: ['u2', 'nope'] }, false)]).toEqual([
      'u2',
      'u1',
    ]);
    // The alias index follows the new address.
    const state = store.type(addressType.typeUrl)!;
    expect(state.resolve('/10.0.0.1')).toEqual([]);
    expect(state.resolve('/10.0.0.3').map((e) => e.name)).toEqual(['u1']);
  });

  it('replaces a whole type', () => {
    const store = new ResourceStore();
    store.apply(clusterType, { set: [{ resource: { name: 'a' } }, { resource: { name: 'b' } }] }, true);
    expect([...store.apply(clusterType, { set: [{ resource: { name: 'b' } }] }, true)]).toEqual(['a']);
    expect([...store.type(clusterType.typeUrl)!.byName.keys()]).toEqual(['b']);
  });

  it('rejects an update atomically', () => {
    const store = new ResourceStore();
    store.apply(authorizationType, { set: [{ resource: { name: 'p', namespace: 'ns' } }] }, false);
    const before = store.type(authorizationType.typeUrl)!.byName.get('ns/p');
    for (const [bad, code] of [
      [
        [{ resource: { name: 'q', namespace: 'ns' } }, { resource: { name: 'q', namespace: 'ns' } }],
        'ERR_XDS_DUPLICATE_NAME',
      ],
      [[{ resource: { name: 'r', namespace: 'ns' } }, { resource: { namespace: 'ns' } }], 'ERR_XDS_INVALID_RESOURCE'],
      [[{ resource: {}, name: '' }], 'ERR_XDS_INVALID_RESOURCE'],
      [[{ name: 'x' }], 'ERR_XDS_INVALID_RESOURCE'],
    ] as const) {
      expect(() => store.apply(authorizationType, { set: bad as never }, true)).toThrowError(
        expect.toSatisfy((e) => MeshError.is(e, code)),
      );
    }
    expect(store.type(authorizationType.typeUrl)!.byName.get('ns/p')).toBe(before);
    expect(store.type(authorizationType.typeUrl)!.byName.size).toBe(1);
  });

  it('takes explicit names, aliases, versions and TTLs', () => {
    const store = new ResourceStore();
    store.apply(
      clusterType,
      { set: [{ resource: { name: 'c' }, name: 'other', aliases: ['x'], version: 'v9', ttlMs: 5000 }] },
      false,
    );
    const entry = store.type(clusterType.typeUrl)!.byName.get('other')!;
    expect([entry.version, entry.aliases, entry.ttlMs]).toEqual(['v9', ['x'], 5000]);
    expect(entry.deltaBytes()).toBe(entry.deltaBytes()); // encoded once
  });
});
