import { describe, expect, it } from 'vitest';
import { FrameCache } from './frames.js';
import { PushGate } from './gate.js';

describe('PushGate', () => {
  it('hands out at most `limit` slots and wakes waiters in order as slots free', () => {
    const gate = new PushGate(2);
    const woken: string[] = [];
    const wake = (name: string) => () => woken.push(name);
    const a = wake('a');
    const b = wake('b');
    expect([gate.acquire(wake('x')), gate.acquire(wake('y'))]).toEqual([true, true]);
    expect(gate.acquire(a)).toBe(false);
    expect(gate.acquire(b)).toBe(false);
    gate.release();
    expect(woken).toEqual(['a']);
    expect(gate.acquire(a)).toBe(true);
    gate.cancel(b);
    gate.release();
    gate.release();
    expect([woken, gate.active]).toEqual([['a'], 0]);
  });
});

describe('FrameCache', () => {
  it('keeps the most recently used few', () => {
    const cache = new FrameCache();
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, { frame: new Uint8Array(), nonce: `n${i}` });
    expect(cache.get('k0')).toBeUndefined();
    expect(cache.get('k1')?.nonce).toBe('n1');
    cache.set('k5', { frame: new Uint8Array(), nonce: 'n5' });
    expect(cache.get('k1')?.nonce).toBe('n1'); // used recently, so k2 went instead
    expect(cache.get('k2')).toBeUndefined();
  });
});
