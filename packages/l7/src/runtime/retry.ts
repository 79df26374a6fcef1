// Retry decisions and backoff as Envoy's router applies an Istio retry policy.
import type { Rng } from '@mesh/core';
import type { RetryPolicy } from '../decision.js';

export type AttemptOutcome =
  | { kind: 'response'; status: number; grpcStatus?: number; headers?: Readonly<Record<string, string>> }
  /** The connection to the upstream could not be made. */
  | { kind: 'connect-failure' }
  /** The upstream reset the stream with REFUSED_STREAM. */
  | { kind: 'refused-stream' }
  /** Reset, disconnect or per-try timeout; `beforeRequest` when nothing was sent yet. */
  | { kind: 'reset'; beforeRequest?: boolean }
  | { kind: 'per-try-timeout' };

const GRPC_ON: Record<string, number> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

/** Whether try number `attempt` (1 = the first retry) is allowed after `outcome` under `policy`. */
export function shouldRetry(policy: RetryPolicy | null, outcome: AttemptOutcome, attempt: number): boolean {
  if (!policy || attempt > policy.attempts) return false;
  const on = policy.retryOn.split(',');
  const has = (p: string) => on.includes(p);
  switch (outcome.kind) {
    case 'connect-failure':
      return has('connect-failure') || has('5xx') || has('gateway-error') || has('reset');
    case 'refused-stream':
      return has('refused-stream') || has('5xx') || has('reset');
    case 'reset':
      return has('reset') || has('5xx') || (outcome.beforeRequest === true && has('reset-before-request'));
    case 'per-try-timeout':
      return has('5xx') || has('gateway-error') || has('reset');
    case 'response': {
      const s = outcome.status;
      if (has('5xx') && s >= 500) return true;
      if (has('gateway-error') && (s === 502 || s === 503 || s === 504)) return true;
      if (has('retriable-4xx') && s === 409) return true;
      if (has('retriable-status-codes') && policy.retriableStatusCodes.includes(s)) return true;
      if (has('envoy-ratelimited') && outcome.headers?.['x-envoy-ratelimited'] !== undefined) return true;
      const g = outcome.grpcStatus;
      if (g !== undefined) for (const [name, code] of Object.entries(GRPC_ON)) if (g === code && has(name)) return true;
      return false;
    }
  }
}

/**
 * Envoy's fully jittered exponential backoff: before retry n (1-based) wait a uniform draw in
 * [0, min((2^n - 1) x base, max)), with base 25 ms and max 10 x base by default (24, 74, 174, … ms).
 */
export function retryBackoffMs(attempt: number, options: { rng: Rng; baseMs?: number; maxMs?: number }): number {
  const base = options.baseMs ?? 25;
  const max = options.maxMs ?? base * 10;
  const ceiling = Math.min((2 ** Math.max(1, attempt) - 1) * base, max);
  return Math.floor(options.rng.next() * ceiling);
}
