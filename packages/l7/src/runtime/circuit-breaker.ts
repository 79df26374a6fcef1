// Envoy's per-cluster circuit-breaker counters (connectionPool limits): a request over a limit is refused at once
// (503 with the UO flag) and counted as an overflow.
import type { ResolvedConnectionPool } from '../destination-rule.js';

export type Resource = 'connections' | 'pendingRequests' | 'requests' | 'retries';

export interface CircuitBreakerStats {
  readonly active: Readonly<Record<Resource, number>>;
  readonly overflow: Readonly<Record<Resource, number>>;
}

export class CircuitBreaker {
  readonly #limits: Record<Resource, number>;
  readonly #active: Record<Resource, number> = { connections: 0, pendingRequests: 0, requests: 0, retries: 0 };
  readonly #overflow: Record<Resource, number> = { connections: 0, pendingRequests: 0, requests: 0, retries: 0 };

  constructor(
    pool: Pick<ResolvedConnectionPool, 'maxConnections' | 'maxPendingRequests' | 'maxRequests' | 'maxRetries'>,
  ) {
    this.#limits = {
      connections: pool.maxConnections,
      pendingRequests: pool.maxPendingRequests,
      requests: pool.maxRequests,
      retries: pool.maxRetries,
    };
  }

  /** Takes one unit of `resource` if under its limit; otherwise counts an overflow and returns false. */
  tryAcquire(resource: Resource): boolean {
    if (this.#active[resource] >= this.#limits[resource]) {
      this.#overflow[resource]++;
      return false;
    }
    this.#active[resource]++;
    return true;
  }

  release(resource: Resource): void {
    if (this.#active[resource] > 0) this.#active[resource]--;
  }

  /** Whether `resource` is at its limit (Envoy's "circuit open" gauge). */
  isOpen(resource: Resource): boolean {
    return this.#active[resource] >= this.#limits[resource];
  }

  get stats(): CircuitBreakerStats {
    return { active: { ...this.#active }, overflow: { ...this.#overflow } };
  }
}
