// Upstream clusters as Envoy builds them from a DestinationRule: one per (host, subset, port), with its endpoints,
// load balancer, outlier detector and circuit-breaker counters. Clusters live across config snapshots so that
// ejections and counters survive a push that does not change them.
import type { Clock, Rng } from '@mesh/core';
import type { ResolvedTrafficPolicy, WeightedBackend } from '@mesh/l7';
import { CircuitBreaker, createBalancer, OutlierDetector, type LoadBalancer } from '@mesh/l7/runtime';
import { matchesSubset, type EndpointView, type WaypointView } from './model.js';
import type { UpstreamTarget } from './upstream.js';

export interface ClusterEndpoint extends UpstreamTarget {
  /** `ip:port`, the balancer and outlier key. */
  readonly address: string;
  readonly workload: EndpointView;
}

export class Cluster {
  readonly name: string;
  endpoints: ClusterEndpoint[] = [];
  policy: ResolvedTrafficPolicy;
  balancer: LoadBalancer<ClusterEndpoint> | null = null;
  outliers: OutlierDetector | null = null;
  breaker: CircuitBreaker;
  readonly active = new Map<string, number>();
  #policyText: string;
  #endpointsText = '';
  readonly #rng: Rng;
  readonly #clock: Clock;

  constructor(name: string, policy: ResolvedTrafficPolicy, options: { rng: Rng; clock: Clock }) {
    this.name = name;
    this.policy = policy;
    this.#policyText = JSON.stringify({ ...policy, source: null });
    this.#rng = options.rng;
    this.#clock = options.clock;
    this.breaker = new CircuitBreaker(policy.connectionPool);
    if (policy.outlierDetection) this.outliers = new OutlierDetector(policy.outlierDetection, { clock: this.#clock });
  }

  /** Applies a new policy and endpoint set; state is kept when they did not change. */
  update(policy: ResolvedTrafficPolicy, endpoints: ClusterEndpoint[]): void {
    const policyText = JSON.stringify({ ...policy, source: null });
    const endpointsText = endpoints.map((e) => `${e.address}|${e.identity}`).join(',');
    const policyChanged = policyText !== this.#policyText;
    if (policyChanged) {
      this.policy = policy;
      this.#policyText = policyText;
      this.breaker = new CircuitBreaker(policy.connectionPool);
      this.outliers = policy.outlierDetection
        ? new OutlierDetector(policy.outlierDetection, { clock: this.#clock })
        : null;
    }
    if (policyChanged || endpointsText !== this.#endpointsText || !this.balancer) {
      this.endpoints = endpoints;
      this.#endpointsText = endpointsText;
      this.outliers?.setHosts(endpoints.map((e) => e.address));
      this.balancer = createBalancer(policy.loadBalancer, endpoints, {
        rng: this.#rng,
        activeRequests: (e) => this.active.get(e.address) ?? 0,
      });
    }
  }

  /** An endpoint not ejected and not in `exclude` (all excluded: any endpoint, Envoy's panic mode). */
  pick(hash: number | null, exclude: ReadonlySet<string>): ClusterEndpoint | null {
    if (!this.balancer || this.endpoints.length === 0) return null;
    let skip: Set<string> | ReadonlySet<string> = exclude;
    if (this.outliers && this.outliers.ejectedCount > 0) {
      skip = new Set(exclude);
      for (const e of this.endpoints) if (this.outliers.isEjected(e.address)) (skip as Set<string>).add(e.address);
    }
    return this.balancer.pick({ hash, exclude: skip });
  }

  snapshot() {
    return {
      name: this.name,
      policy: this.policy,
      circuitBreakers: this.breaker.stats,
      endpoints: this.endpoints.map((e) => ({
        address: e.address,
        identity: e.identity,
        workload: `${e.workload.namespace}/${e.workload.name}`,
        health: e.workload.healthy ? 'HEALTHY' : 'UNHEALTHY',
        ejected: this.outliers?.isEjected(e.address) ?? false,
        ejections: this.outliers?.ejections(e.address) ?? 0,
        activeRequests: this.active.get(e.address) ?? 0,
      })),
    };
  }
}

export function clusterName(b: { host: string; subset: string | null; port: number }): string {
  return `outbound|${b.port}|${b.subset ?? ''}|${b.host}`;
}

export class Clusters {
  readonly #clusters = new Map<string, Cluster>();
  #version = -1;

  constructor(private readonly options: { rng: Rng; clock: Clock }) {}

  /** The cluster for a backend under the current snapshot (endpoints are recomputed once per snapshot). */
  get(view: WaypointView, backend: WeightedBackend): Cluster {
    if (view.version !== this.#version) {
      this.#version = view.version;
      this.#fresh.clear();
    }
    const name = clusterName(backend);
    let cluster = this.#clusters.get(name);
    if (!cluster) {
      cluster = new Cluster(name, backend.trafficPolicy, this.options);
      this.#clusters.set(name, cluster);
    }
    if (!this.#fresh.has(name)) {
      this.#fresh.add(name);
      cluster.update(backend.trafficPolicy, endpointsFor(view, backend));
    }
    return cluster;
  }

  readonly #fresh = new Set<string>();

  all(): Cluster[] {
    return [...this.#clusters.values()];
  }
}

export function endpointsFor(
  view: WaypointView,
  backend: { host: string; port: number; subsetLabels: Readonly<Record<string, string>> | null },
): ClusterEndpoint[] {
  const out: ClusterEndpoint[] = [];
  for (const { endpoint, serviceKey } of view.endpoints(backend.host)) {
    if (!endpoint.healthy || !matchesSubset(endpoint.labels, backend.subsetLabels)) continue;
    const target = endpoint.services.get(serviceKey)?.get(backend.port);
    if (target === undefined) continue;
    out.push({
      address: `${endpoint.ip}:${target}`,
      ip: endpoint.ip,
      port: target,
      identity: endpoint.identity,
      workload: endpoint,
    });
  }
  return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
