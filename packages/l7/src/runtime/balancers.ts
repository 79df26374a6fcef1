// Load balancers the waypoint runs per upstream cluster, socket-free: they pick among endpoints the caller passes
// (already filtered for health/ejection) with an injected Rng.
import type { Rng } from '@mesh/core';
import type { ResolvedLoadBalancer } from '../destination-rule.js';
import { L7Error } from '../errors.js';
import { hash32 } from './hash.js';

export interface Endpoint {
  /** A stable identity, e.g. "10.0.1.7:9080". */
  readonly address: string;
  /** Relative weight; default 1. */
  readonly weight?: number;
}

export interface PickContext {
  /** The request's consistent-hash key (from requestHash); used by ring hash and maglev. */
  hash?: number | null;
  /** Hosts to avoid (the retry previous-hosts predicate); ignored when every host is excluded. */
  exclude?: ReadonlySet<string>;
}

export interface LoadBalancer<E extends Endpoint = Endpoint> {
  readonly endpoints: readonly E[];
  /** An endpoint, or null when there are none. */
  pick(context?: PickContext): E | null;
}

/** Weighted round robin (smooth weighted round robin: even spreading, exact proportions over a cycle). */
export class RoundRobinBalancer<E extends Endpoint> implements LoadBalancer<E> {
  readonly #current: number[];
  readonly #weights: number[];
  readonly #total: number;
  #next = 0;
  readonly #uniform: boolean;

  constructor(
    readonly endpoints: readonly E[],
    options: { rng?: Rng } = {},
  ) {
    this.#weights = endpoints.map((e) => Math.max(1, e.weight ?? 1));
    this.#total = this.#weights.reduce((a, b) => a + b, 0);
    this.#current = endpoints.map(() => 0);
    this.#uniform = this.#weights.every((w) => w === this.#weights[0]);
    // Envoy starts each worker at a random offset so that proxies do not all hit the first host together.
    if (options.rng && endpoints.length > 0) this.#next = Math.floor(options.rng.next() * endpoints.length);
  }

  pick(context: PickContext = {}): E | null {
    const n = this.endpoints.length;
    if (n === 0) return null;
    for (let tries = 0; tries < n; tries++) {
      let index: number;
      if (this.#uniform) index = this.#next++ % n;
      else {
        let best = 0;
        for (let i = 0; i < n; i++) {
          this.#current[i]! += this.#weights[i]!;
          if (this.#current[i]! > this.#current[best]!) best = i;
        }
        this.#current[best]! -= this.#total;
        index = best;
      }
      const e = this.endpoints[index]!;
      if (!context.exclude?.has(e.address) || tries === n - 1) return e;
    }
    return null;
  }
}

/** Uniform (or weighted) random. */
export class RandomBalancer<E extends Endpoint> implements LoadBalancer<E> {
  readonly #cumulative: number[];

  constructor(
    readonly endpoints: readonly E[],
    private readonly options: { rng: Rng },
  ) {
    let acc = 0;
    this.#cumulative = endpoints.map((e) => (acc += Math.max(0, e.weight ?? 1)));
  }

  pick(context: PickContext = {}): E | null {
    const n = this.endpoints.length;
    if (n === 0) return null;
    for (let tries = 0; tries < 5; tries++) {
      const x = this.options.rng.next() * this.#cumulative[n - 1]!;
      let i = 0;
      while (i < n - 1 && x >= this.#cumulative[i]!) i++;
      const e = this.endpoints[i]!;
      if (!context.exclude?.has(e.address)) return e;
    }
    return this.endpoints.find((e) => !context.exclude?.has(e.address)) ?? this.endpoints[0]!;
  }
}

/**
 * Least request with the power of two choices (Envoy's default with equal weights, Istio's default policy): draw
 * `choiceCount` endpoints at random and take the one with the fewest active requests.
 */
export class LeastRequestBalancer<E extends Endpoint> implements LoadBalancer<E> {
  constructor(
    readonly endpoints: readonly E[],
    private readonly options: { rng: Rng; activeRequests: (endpoint: E) => number; choiceCount?: number },
  ) {}

  pick(context: PickContext = {}): E | null {
    const n = this.endpoints.length;
    if (n === 0) return null;
    if (n === 1) return this.endpoints[0]!;
    const choices = Math.max(2, this.options.choiceCount ?? 2);
    let best: E | null = null;
    let bestActive = Infinity;
    for (let c = 0; c < choices; c++) {
      let e = this.endpoints[Math.floor(this.options.rng.next() * n)]!;
      if (context.exclude?.has(e.address)) {
        const alt = this.endpoints.find((x) => !context.exclude!.has(x.address));
        if (alt) e = alt;
      }
      const active = this.options.activeRequests(e);
      if (active < bestActive) {
        best = e;
        bestActive = active;
      }
    }
    return best;
  }
}

/**
 * Ketama-style ring hash: each endpoint gets ring entries in proportion to its weight (at least `minimumRingSize`
 * entries in all, Istio's default 1024); a key goes to the first entry clockwise from its hash.
 */
export class RingHashBalancer<E extends Endpoint> implements LoadBalancer<E> {
  readonly #hashes: Uint32Array;
  readonly #owners: Int32Array;

  constructor(
    readonly endpoints: readonly E[],
    private readonly options: { minimumRingSize?: number; maximumRingSize?: number; rng?: Rng } = {},
  ) {
    const min = options.minimumRingSize ?? 1024;
    const max = options.maximumRingSize ?? 8_388_608;
    if (!(min >= 1 && min <= max))
      throw new L7Error('ERR_L7_INVALID_OPTIONS', 'minimumRingSize must be between 1 and maximumRingSize');
    const total = endpoints.reduce((s, e) => s + Math.max(0, e.weight ?? 1), 0);
    const entries: [number, number][] = [];
    if (total > 0) {
      const minShare = Math.min(...endpoints.map((e) => Math.max(0, e.weight ?? 1) / total).filter((s) => s > 0));
      const scale = Math.min(Math.ceil(minShare * min) / minShare, max);
      endpoints.forEach((e, i) => {
        const count = Math.round((Math.max(0, e.weight ?? 1) / total) * scale);
        for (let k = 0; k < count; k++) entries.push([hash32(`${e.address}_${k}`), i]);
      });
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.#hashes = Uint32Array.from(entries.map((x) => x[0]));
    this.#owners = Int32Array.from(entries.map((x) => x[1]));
  }

  get ringSize(): number {
    return this.#hashes.length;
  }

  pick(context: PickContext = {}): E | null {
    const size = this.#hashes.length;
    if (size === 0) return null;
    const h = context.hash ?? (this.options.rng ? Math.floor(this.options.rng.next() * 0x1_0000_0000) : 0);
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    for (let step = 0; step < size; step++) {
      const e = this.endpoints[this.#owners[(lo + step) % size]!]!;
      if (!context.exclude?.has(e.address)) return e;
    }
    return this.endpoints[this.#owners[lo % size]!]!;
  }
}

/** Maglev consistent hashing (Eisenbud et al., 2016) with a prime table size (Envoy's default 65537). */
export class MaglevBalancer<E extends Endpoint> implements LoadBalancer<E> {
  readonly #table: Int32Array;

  constructor(
    readonly endpoints: readonly E[],
    private readonly options: { tableSize?: number; rng?: Rng } = {},
  ) {
    const m = options.tableSize ?? 65_537;
    if (!isPrime(m)) throw new L7Error('ERR_L7_INVALID_OPTIONS', `maglev tableSize ${m} must be a prime number`);
    this.#table = new Int32Array(m).fill(-1);
    const n = endpoints.length;
    if (n === 0) return;
    const weights = endpoints.map((e) => Math.max(0, e.weight ?? 1));
    const maxWeight = Math.max(...weights);
    if (maxWeight === 0) return;
    const offset = endpoints.map((e) => hash32(e.address, 0x9747b28c) % m);
    const skip = endpoints.map((e) => (hash32(e.address, 0x2f1d4c3b) % (m - 1)) + 1);
    const next = new Array<number>(n).fill(0);
    const credit = new Array<number>(n).fill(0);
    let filled = 0;
    for (let iteration = 1; filled < m; iteration++) {
      for (let i = 0; i < n && filled < m; i++) {
        credit[i]! += weights[i]! / maxWeight;
        if (credit[i]! < 1) continue;
        credit[i]! -= 1;
        let c = (offset[i]! + next[i]! * skip[i]!) % m;
        while (this.#table[c]! >= 0) {
          next[i]!++;
          c = (offset[i]! + next[i]! * skip[i]!) % m;
        }
        this.#table[c] = i;
        next[i]!++;
        filled++;
      }
      if (iteration > m * 4) break;
    }
  }

  pick(context: PickContext = {}): E | null {
    if (this.endpoints.length === 0) return null;
    const m = this.#table.length;
    const h = context.hash ?? (this.options.rng ? Math.floor(this.options.rng.next() * 0x1_0000_0000) : 0);
    for (let step = 0; step < m; step++) {
      const e = this.endpoints[this.#table[(h + step) % m]!]!;
      if (!context.exclude?.has(e.address) || step === m - 1) return e;
    }
    return null;
  }
}

/** The balancer a resolved DestinationRule load-balancer setting calls for. PASSTHROUGH has none (null). */
export function createBalancer<E extends Endpoint>(
  policy: ResolvedLoadBalancer,
  endpoints: readonly E[],
  options: { rng: Rng; activeRequests?: (endpoint: E) => number },
): LoadBalancer<E> | null {
  switch (policy.kind) {
    case 'ROUND_ROBIN':
      return new RoundRobinBalancer(endpoints, { rng: options.rng });
    case 'RANDOM':
      return new RandomBalancer(endpoints, { rng: options.rng });
    case 'RING_HASH':
      return new RingHashBalancer(endpoints, { minimumRingSize: policy.minimumRingSize, rng: options.rng });
    case 'MAGLEV':
      return new MaglevBalancer(endpoints, { tableSize: policy.tableSize, rng: options.rng });
    case 'PASSTHROUGH':
      return null;
    case 'LEAST_REQUEST':
      return new LeastRequestBalancer(endpoints, {
        rng: options.rng,
        activeRequests: options.activeRequests ?? (() => 0),
      });
  }
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}
