import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { seededRng } from './random.js';

describe('seededRng', () => {
  it('is reproducible and seed-dependent', () => {
    const a = seededRng(1);
    const b = seededRng(1);
    const c = seededRng(2);
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(seqA);
  });

  it('is uniform enough for statistical tests (chi-square over 10 bins, 100k draws)', () => {
    const rng = seededRng(12345);
    const bins = new Array<number>(10).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws; i++) {
      const x = rng.next();
      expect(x >= 0 && x < 1).toBe(true);
      bins[Math.floor(x * 10)]!++;
    }
    const expected = draws / 10;
    const chi2 = bins.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: p = 0.001 critical value is 27.88.
    expect(chi2).toBeLessThan(27.88);
  });
});

describe('ManualClock', () => {
  it('moves only when told, and never backwards', () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    expect(clock.monotonic()).toBe(250);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});
