// Durations as Istio (protobuf Duration in YAML: "1.5s") and Gateway API ("1h30m500ms") write them.
import { L7Error } from './errors.js';

const UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000_001 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/gy;

/** Milliseconds in a duration string, or `undefined` when it is not a duration. */
export function tryParseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]!]!;
    at = PART.lastIndex;
  }
  return total;
}

/** Milliseconds in a duration string; throws ERR_L7_INVALID_DURATION naming `field`. */
export function parseDuration(text: string, field = 'duration'): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    throw new L7Error('ERR_L7_INVALID_DURATION', `${field}: ${JSON.stringify(text)} is not a duration such as "1.5s"`, {
      details: { path: field },
    });
  }
  return ms;
}

/** The protobuf JSON form Istio prints: whole seconds as "5s", fractions as "0.250s". */
export function formatDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${(ms / 1000).toFixed(3).replace(/0+$/, '')}s`;
}
