// Outlier detection as Envoy runs it for an Istio DestinationRule (reference §4): consecutive 5xx and consecutive
// gateway errors eject a host at once; ejection lasts baseEjectionTime x (number of ejections), capped; a sweep every
// `interval` brings hosts back and lets the multiplier of healthy hosts decay; maxEjectionPercent caps how many hosts
// are out, but one host can always be ejected. Time comes from an injected Clock; nothing here sets a timer.
import type { Clock } from '@mesh/core';
import type { ResolvedOutlierDetection } from '../destination-rule.js';

export type Outcome =
  /** An upstream response (HTTP status). */
  | { kind: 'response'; status: number }
  /** A failure on our side of the connection: connect failure, reset, timeout before any response. */
  | { kind: 'local-origin-failure' }
  /** A connection or request that succeeded at the transport level, for split local-origin accounting. */
  | { kind: 'local-origin-success' };

export interface EjectionEvent {
  readonly host: string;
  readonly reason: 'consecutive-5xx' | 'consecutive-gateway-errors' | 'consecutive-local-origin-failures';
  /** Monotonic time until which the host is ejected. */
  readonly until: number;
  readonly ejections: number;
}

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  ejectedUntil: number | null;
  ejections: number;
}

export class OutlierDetector {
  readonly #config: ResolvedOutlierDetection;
  readonly #clock: Clock;
  readonly #hosts = new Map<string, HostState>();
  #lastSweep: number;
  #ejected = 0;

  constructor(config: ResolvedOutlierDetection, options: { clock: Clock; hosts?: Iterable<string> }) {
    this.#config = config;
    this.#clock = options.clock;
    this.#lastSweep = options.clock.monotonic();
    if (options.hosts) this.setHosts(options.hosts);
  }

  /** Replaces the set of hosts (new ones start healthy; removed ones are forgotten). */
  setHosts(hosts: Iterable<string>): void {
    const keep = new Set(hosts);
    for (const h of [...this.#hosts.keys()]) if (!keep.has(h)) this.#forget(h);
    for (const h of keep) if (!this.#hosts.has(h)) this.#hosts.set(h, fresh());
  }

  /** Records the outcome of one request to `host`; returns the ejection it caused, if any. */
  record(host: string, outcome: Outcome): EjectionEvent | null {
    this.tick();
    let s = this.#hosts.get(host);
    if (!s) {
      s = fresh();
      this.#hosts.set(host, s);
    }
    const c = this.#config;
    if (outcome.kind === 'local-origin-success') {
      s.consecutiveLocal = 0;
      return null;
    }
    let isError5xx: boolean;
    let isGateway: boolean;
    if (outcome.kind === 'local-origin-failure') {
      if (c.splitExternalLocalOriginErrors) {
        s.consecutiveLocal++;
        if (c.consecutiveLocalOriginFailures > 0 && s.consecutiveLocal >= c.consecutiveLocalOriginFailures)
          return this.#eject(host, s, 'consecutive-local-origin-failures');
        return null;
      }
      // Without the split, a local-origin failure counts as a 503 from the host.
      isError5xx = true;
      isGateway = true;
    } else {
      isError5xx = outcome.status >= 500 && outcome.status <= 599;
      isGateway = outcome.status === 502 || outcome.status === 503 || outcome.status === 504;
    }
    s.consecutive5xx = isError5xx ? s.consecutive5xx + 1 : 0;
    s.consecutiveGateway = isGateway ? s.consecutiveGateway + 1 : 0;
    if (s.ejectedUntil !== null) return null;
    if (c.consecutive5xxErrors > 0 && s.consecutive5xx >= c.consecutive5xxErrors)
      return this.#eject(host, s, 'consecutive-5xx');
    if (c.consecutiveGatewayErrors > 0 && s.consecutiveGateway >= c.consecutiveGatewayErrors)
      return this.#eject(host, s, 'consecutive-gateway-errors');
    return null;
  }

  isEjected(host: string): boolean {
    this.tick();
    return this.#hosts.get(host)?.ejectedUntil != null;
  }

  /** Hosts currently in service, in the order given. */
  healthy<T extends string | { address: string }>(hosts: readonly T[]): T[] {
    this.tick();
    return hosts.filter((h) => this.#hosts.get(typeof h === 'string' ? h : h.address)?.ejectedUntil == null);
  }

  get ejectedCount(): number {
    this.tick();
    return this.#ejected;
  }

  /** Number of times `host` has been ejected (the ejection-time multiplier). */
  ejections(host: string): number {
    return this.#hosts.get(host)?.ejections ?? 0;
  }

  /** Runs every interval sweep due by now. Called by every other method; call it from a timer if you like. */
  tick(): void {
    const now = this.#clock.monotonic();
    const interval = this.#config.intervalMs;
    while (now - this.#lastSweep >= interval) {
      this.#lastSweep += interval;
      this.#sweep(this.#lastSweep);
    }
  }

  #sweep(at: number): void {
    for (const s of this.#hosts.values()) {
      if (s.ejectedUntil !== null) {
        if (at >= s.ejectedUntil) {
          s.ejectedUntil = null;
          s.consecutive5xx = s.consecutiveGateway = s.consecutiveLocal = 0;
          this.#ejected--;
        }
      } else if (s.ejections > 0) s.ejections--;
    }
  }

  #eject(host: string, s: HostState, reason: EjectionEvent['reason']): EjectionEvent | null {
    const total = this.#hosts.size;
    const allowed = this.#ejected === 0 || (100 * (this.#ejected + 1)) / total <= this.#config.maxEjectionPercent;
    if (!allowed) return null;
    s.ejections++;
    const base = this.#config.baseEjectionTimeMs;
    const duration = Math.min(base * s.ejections, Math.max(base, this.#config.maxEjectionTimeMs));
    s.ejectedUntil = this.#clock.monotonic() + duration;
    this.#ejected++;
    return { host, reason, until: s.ejectedUntil, ejections: s.ejections };
  }

  #forget(host: string): void {
    if (this.#hosts.get(host)?.ejectedUntil != null) this.#ejected--;
    this.#hosts.delete(host);
  }
}

function fresh(): HostState {
  return { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, ejectedUntil: null, ejections: 0 };
}
