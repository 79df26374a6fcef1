import { describe, expect, it } from 'vitest';
import { BatchQueue, ResourceState, type ResourceBatch, type XdsResource } from './state.js';

const entry = (name: string, version = '1', aliases: string[] = []): XdsResource<string> => ({
  name,
  version,
  aliases,
  resource: `${name}@${version}`,
  updatedAt: 0,
});

describe('ResourceState', () => {
  it('finds resources by name or alias and keeps the alias index current', () => {
    const state = new ResourceState<string>();
    state.put(entry('a', '1', ['/10.0.0.1']));
    expect(state.get('/10.0.0.1')?.name).toBe('a');
    state.put(entry('a', '2', ['/10.0.0.2']));
    expect(state.get('/10.0.0.1')).toBeUndefined();
    expect(state.resolve('/10.0.0.2').map((e) => e.version)).toEqual(['2']);
    expect(state.delete('a')).toBe(true);
    expect(state.get('/10.0.0.2')).toBeUndefined();
  });
});

describe('BatchQueue', () => {
  it('merges batches a slow consumer has not taken yet', async () => {
    let finished = 0;
    const queue = new BatchQueue<string>('t', () => finished++);
    queue.push({ typeUrl: 't', updated: [entry('a'), entry('b')], removed: [], cause: 'response' });
    queue.push({ typeUrl: 't', updated: [entry('a', '2')], removed: ['b', 'c'], cause: 'response' });
    queue.push({ typeUrl: 't', updated: [entry('c', '3')], removed: [], cause: 'ttl' });
    const value = (await queue.next()).value as ResourceBatch<string>;
    expect(value!.updated.map((e) => e.resource)).toEqual(['a@2', 'c@3']);
    expect(value!.removed).toEqual(['b']);
    expect(value!.cause).toBe('ttl');
    const pending = queue.next();
    queue.push({ typeUrl: 't', updated: [], removed: ['a'], cause: 'response' });
    expect((await pending).value!.removed).toEqual(['a']);
    queue.finish();
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(finished).toBeGreaterThan(0);
  });

  it('delivers what is pending before ending, and fails waiting consumers with the error given', async () => {
    const queue = new BatchQueue<string>('t', () => {});
    queue.push({ typeUrl: 't', updated: [entry('a')], removed: [], cause: 'response' });
    queue.finish(new Error('gone'));
    expect((await queue.next()).value!.updated).toHaveLength(1);
    await expect(queue.next()).rejects.toThrow('gone');
    const other = new BatchQueue<string>('t', () => {});
    const waiting = other.next();
    await other.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
  });
});
