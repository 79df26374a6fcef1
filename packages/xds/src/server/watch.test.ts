// The server's subscription rules (xds-spiffe-ca.md §1.3-1.7, §1.11) on one connection, without sockets.
import { describe, expect, it } from 'vitest';
import { addressType, clusterType } from '../resource-type.js';
import { ResourceStore } from './store.js';
import { DeltaWatch, SotwWatch } from './watch.js';

const all = () => true;

function addresses() {
  const store = new ResourceStore();
  store.apply(
    addressType,
    {
      set: ['a', 'b', 'c'].map((uid, i) => ({
        resource: { workload: { uid, addresses: [Uint8Array.of(10, 0, 0, i + 1)] } },
      })),
    },
    false,
  );
  return { store, state: () => store.type(addressType.typeUrl) };
}

const names = (push: { entries: { name: string }[]; removed?: string[] } | undefined) =>
  push && { sent: push.entries.map((e) => e.name).sort(), removed: [...(push.removed ?? [])].sort() };

describe('DeltaWatch', () => {
  const sub = (subscribe: string[] = [], unsubscribe: string[] = [], initial: Record<string, string> = {}) => ({
    subscribe,
    unsubscribe,
    initial,
  });

  it('treats a first request naming nothing as the legacy wildcard', () => {
    const { state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(), true, true, state());
    expect(watch.wildcard).toBe(true);
    expect(names(watch.build(state(), all))).toEqual({ sent: ['a', 'b', 'c'], removed: [] });
    expect(watch.build(state(), all)).toBeUndefined(); // nothing new
  });

  it('answers a first request even when there is nothing to send (readiness)', () => {
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(), true, true, undefined);
    expect(watch.build(undefined, all)).toEqual({ entries: [], removed: [] });
  });

  it("understands ztunnel's on-demand start: * in both lists subscribes to nothing", () => {
    const { state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(['*'], ['*']), true, true, state());
    expect(watch.wildcard).toBe(false);
    expect(names(watch.build(state(), all))).toEqual({ sent: [], removed: [] });
    // A lookup by alias brings the workload; an unknown key is answered as removed ("does not exist").
    watch.subscribe(sub(['/10.0.0.2', '/10.9.9.9']), false, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['b'], removed: ['/10.9.9.9'] });
  });

  it('re-sends explicitly subscribed names even when the client holds them', () => {
    const { state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(['a']), true, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['a'], removed: [] });
    watch.subscribe(sub(['a']), false, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['a'], removed: [] });
  });

  it('gives X back after unsubscribing X while subscribed to * and X', () => {
    const { state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(['*', 'a', 'zzz']), true, true, state());
    watch.build(state(), all);
    watch.subscribe(sub([], ['a', 'zzz']), false, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['a'], removed: ['zzz'] });
  });

  it('forgets what the client drops by unsubscribing, without sending removals', () => {
    const { state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(['a', '/10.0.0.2']), true, true, state());
    watch.build(state(), all);
    expect([...watch.held.keys()].sort()).toEqual(['a', 'b']);
    watch.subscribe(sub([], ['/10.0.0.2', 'phantom']), false, true, state());
    expect(watch.build(state(), all)).toBeUndefined();
    expect([...watch.held.keys()]).toEqual(['a']);
    watch.subscribe(sub([], ['*']), false, true, state()); // not subscribed to *: nothing changes
    expect([...watch.held.keys()]).toEqual(['a']);
  });

  it('on reconnect sends only what changed and removes what is gone (initial_resource_versions)', () => {
    const { store, state } = addresses();
    const versionOf = (name: string) => state()!.byName.get(name)!.version;
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub([], [], { a: versionOf('a'), b: 'old', gone: 'v1' }), true, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['b', 'c'], removed: ['gone'] });
    // Named subscriptions on a reconnect also skip what the client holds.
    const named = new DeltaWatch(addressType.typeUrl);
    named.subscribe(sub(['a', 'b'], [], { a: versionOf('a') }), true, true, state());
    expect(names(named.build(state(), all))).toEqual({ sent: ['b'], removed: [] });
    // Changes then flow incrementally.
    store.apply(addressType, { remove: ['b'] }, false);
    named.changed(['b']);
    expect(names(named.build(state(), all))).toEqual({ sent: [], removed: ['b'] });
  });

  it('follows aliases when a resource moves and hides what the filter hides', () => {
    const { store, state } = addresses();
    const watch = new DeltaWatch(addressType.typeUrl);
    watch.subscribe(sub(['/10.0.0.1']), true, true, state());
    expect(names(watch.build(state(), all))).toEqual({ sent: ['a'], removed: [] });
    store.apply(
      addressType,
      { set: [{ resource: { workload: { uid: 'a', addresses: [Uint8Array.of(10, 0, 0, 9)] } } }] },
      false,
    );
    watch.changed(['a']);
    expect(names(watch.build(state(), all))).toEqual({ sent: [], removed: ['a'] });

    const wild = new DeltaWatch(addressType.typeUrl);
    wild.subscribe(sub(), true, true, state());
    expect(names(wild.build(state(), (e) => e.name !== 'b'))).toEqual({ sent: ['a', 'c'], removed: [] });
    wild.refilter();
    expect(names(wild.build(state(), (e) => e.name !== 'c'))).toEqual({ sent: ['b'], removed: ['c'] });
  });
});

describe('SotwWatch', () => {
  const clusters = (...list: string[]) => {
    const store = new ResourceStore();
    store.apply(clusterType, { set: list.map((name) => ({ resource: { name } })) }, true);
    return store;
  };

  it('uses [] as wildcard only until the client names something', () => {
    const store = clusters('a', 'b');
    const watch = new SotwWatch(clusterType.typeUrl);
    watch.subscribe([], true, true);
    const first = watch.build(store.type(clusterType.typeUrl), all)!;
    expect(first.entries.map((e) => e.name)).toEqual(['a', 'b']);
    watch.subscribe(['a'], true, false);
    expect(watch.wildcard).toBe(false);
    watch.subscribe([], true, false);
    expect(watch.wildcard).toBe(false); // after explicit names, [] means none
    expect(watch.build(store.type(clusterType.typeUrl), all)!.entries).toEqual([]);
  });

  it('never answers with the same set twice, and versions sets by content', () => {
    const store = clusters('a', 'b');
    const watch = new SotwWatch(clusterType.typeUrl);
    watch.subscribe(['a', 'b'], true, true);
    const first = watch.build(store.type(clusterType.typeUrl), all)!;
    watch.changed(['a'], store.type(clusterType.typeUrl));
    expect(watch.build(store.type(clusterType.typeUrl), all)).toBeUndefined();
    // Only new names require an answer; dropping one does not.
    watch.subscribe(['a'], true, false);
    expect(watch.pending).toBe(false);
    watch.subscribe(['a', 'b'], true, false);
    expect(watch.build(store.type(clusterType.typeUrl), all)!.version).toBe(first.version);
    const other = new SotwWatch(clusterType.typeUrl);
    other.subscribe(['b', 'a'], true, true);
    expect(other.build(clusters('b', 'a').type(clusterType.typeUrl), all)!.version).toBe(first.version);
  });

  it('wakes up only for changes that concern it', () => {
    const store = clusters('a', 'b');
    const watch = new SotwWatch(clusterType.typeUrl);
    watch.subscribe(['a'], false, true);
    watch.build(store.type(clusterType.typeUrl), all);
    store.apply(clusterType, { set: [{ resource: { name: 'b', type: 1 } }] }, false);
    watch.changed(['b'], store.type(clusterType.typeUrl));
    expect(watch.pending).toBe(false);
    store.apply(clusterType, { remove: ['a'] }, false);
    watch.changed(['a'], store.type(clusterType.typeUrl));
    expect(watch.build(store.type(clusterType.typeUrl), all)!.entries).toEqual([]);
  });
});

describe('sync state', () => {
  it('goes NOT_SENT → STALE → SYNCED or NACK by the latest nonce', () => {
    const watch = new DeltaWatch(addressType.typeUrl);
    expect(watch.status).toBe('NOT_SENT');
    watch.sent({ nonce: 'n1', version: '1', at: 1, resources: 1, removed: 0 });
    expect(watch.status).toBe('STALE');
    expect(watch.reply('n1', '', 2, null)).toBe(true);
    expect(watch.status).toBe('SYNCED');
    watch.sent({ nonce: 'n2', version: '2', at: 3, resources: 1, removed: 0 });
    watch.reply('n2', '', 4, { code: 3, message: 'bad' });
    expect(watch.status).toBe('NACK');
    expect(watch.snapshot().lastNack).toMatchObject({ nonce: 'n2', code: 3, message: 'bad' });
    expect(watch.reply('unknown', '', 5, null)).toBe(false);
    expect(watch.snapshot().lastAck?.nonce).toBe('n1');
  });
});
