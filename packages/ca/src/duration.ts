// Durations as people and Istio write them: 90s, 30m, 24h, 7d, 1h30m (Go's time.ParseDuration units plus days).
import { CaError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in a duration string such as `24h` or `1h30m`; throws ERR_CA_INVALID_OPTION. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed)
    throw new CaError(
      'ERR_CA_INVALID_OPTION',
      `invalid duration ${JSON.stringify(text)} (use forms like 90s, 30m, 24h, 7d, 1h30m)`,
    );
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
}

/** `86400000` → `24h`, `5400000` → `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / 1000);
  const out: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out.push(`${n}${unit}`);
    rest -= n * size;
  }
  return out.join('') || '0s';
}
