import { describe, expect, it } from 'vitest';
import { renderReport } from './report.ts';
import { measureRate, median, percentile } from './stats.ts';

describe('bench harness', () => {
  it('computes medians and nearest-rank percentiles', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
  });

  it('measures a rate', async () => {
    let calls = 0;
    const result = await measureRate(() => calls++, { seconds: 0.05, warmupSeconds: 0 });
    expect(result.operations).toBe(calls);
    expect(result.rate).toBeGreaterThan(0);
  });

  it('renders aligned tables', () => {
    const text = renderReport({ name: 'x', title: 'T', columns: ['a', 'bb'], rows: [['long value', 1234.5]] });
    expect(text).toContain('long value  1,235');
  });
});
