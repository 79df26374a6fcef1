// Numbers for benchmark reports: medians of repeated runs, percentiles of latency samples, throughput loops.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface RateResult {
  /** Operations per second. */
  rate: number;
  operations: number;
  seconds: number;
}

/**
 * Calls `operation` in a loop for `seconds` (after `warmupSeconds` of the same) and reports operations per second.
 * For async operations, each call is awaited; pass `concurrency` to keep several in flight.
 */
export async function measureRate(
  operation: () => unknown,
  options: { seconds?: number; warmupSeconds?: number; concurrency?: number } = {},
): Promise<RateResult> {
  const { seconds = 2, warmupSeconds = 0.5, concurrency = 1 } = options;
  const runFor = async (limitSeconds: number) => {
    const deadline = performance.now() + limitSeconds * 1000;
    let operations = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const result = operation();
        if (result instanceof Promise) await result;
        operations++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { operations, seconds: (performance.now() - start) / 1000 };
  };
  if (warmupSeconds > 0) await runFor(warmupSeconds);
  const { operations, seconds: elapsed } = await runFor(seconds);
  return { rate: operations / elapsed, operations, seconds: elapsed };
}

/** Runs `trial` `runs` times and returns every result plus the median of `pick(result)`. */
export async function repeat<T>(runs: number, trial: (run: number) => Promise<T>, pick: (result: T) => number) {
  const results: T[] = [];
  for (let run = 0; run < runs; run++) results.push(await trial(run));
  return { results, median: median(results.map(pick)) };
}
