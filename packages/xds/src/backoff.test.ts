import { describe, expect, it } from 'vitest';
import { MeshError, seededRng } from '@mesh/core';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles up to the ceiling without jitter', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([10, 20, 40, 80, 100, 100]);
    backoff.reset();
    expect(backoff.next()).toBe(10);
  });

  it('keeps jittered delays within ±jitter of the nominal value', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 }, seededRng(7));
    const delays = Array.from({ length: 200 }, () => backoff.next());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1200);
    expect(new Set(delays).size).toBeGreaterThan(50); // spread, not lockstep
  });

  it.each([{ initialMs: 0 }, { initialMs: 10, maxMs: 5 }, { multiplier: 0.5 }, { jitter: 1 }])(
    'rejects %j',
    (options) => {
      expect(() => new Backoff(options)).toThrowError(
        expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_INVALID_OPTIONS')),
      );
    },
  );
});
