// xDS for proxyless gRPC clients (@grpc/grpc-js-xds and the other gRPC xDS clients), as Istio's grpc generator
// serves them: for every Service port a Listener named `<hostname>:<port>` (the `xds:///<hostname>:<port>` target)
// with an RDS HttpConnectionManager, a RouteConfiguration of the same name, and clusters `outbound|<port>|<subset>|<host>`
// with their ClusterLoadAssignments (the Service's healthy endpoints at their target ports, per subset the
// DestinationRule's labels). VirtualService http routes become gRPC routes: path and header matches, weighted
// destinations (subsets), timeouts (max_stream_duration) and retries on gRPC status codes.
import { packAny, type DeepPartial } from '@mesh/api';
import { Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from '@mesh/api/envoy.config.cluster.v3';
import type { ClusterLoadAssignment } from '@mesh/api/envoy.config.endpoint.v3';
import type { Listener } from '@mesh/api/envoy.config.listener.v3';
import type { Route, RouteConfiguration } from '@mesh/api/envoy.config.route.v3';
import { Router } from '@mesh/api/envoy.extensions.filters.http.router.v3';
import { HttpConnectionManager } from '@mesh/api/envoy.extensions.filters.network.http_connection_manager.v3';
import type { AmbientIndex, ServiceInfo, WorkloadInfo } from '@mesh/config';
import {
  parseDuration,
  resolveDestinationRule,
  resolveHost,
  selectVirtualServices,
  type DestinationRule,
  type VirtualService,
} from '@mesh/l7';

export interface ProxylessResources {
  listeners: DeepPartial<Listener>[];
  routes: DeepPartial<RouteConfiguration>[];
  clusters: DeepPartial<Cluster>[];
  endpoints: DeepPartial<ClusterLoadAssignment>[];
}

const ROUTER = [{ name: 'envoy.filters.http.router', typedConfig: packAny(Router, {}) }];
/** The gRPC status names grpc-js retries on (retry_on); other VirtualService retryOn values do not apply to gRPC. */
const GRPC_RETRY_ON = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

export const clusterName = (port: number, subset: string, host: string) => `outbound|${port}|${subset}|${host}`;

const durationOf = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

interface VsRoute {
  name?: string;
  match?: {
    uri?: { exact?: string; prefix?: string; regex?: string };
    headers?: Record<string, { exact?: string; prefix?: string; regex?: string }>;
    [other: string]: unknown;
  }[];
  route?: { destination?: { host?: string; subset?: string; port?: { number?: number } }; weight?: number }[];
  timeout?: string;
  retries?: { attempts?: number; retryOn?: string };
}

/** Builds the proxyless resources of the whole mesh, or of some Services. */
export class ProxylessGenerator {
  #virtualServices: VirtualService[] = [];
  #destinationRules: DestinationRule[] = [];

  constructor(readonly index: AmbientIndex) {
    this.refreshRouting();
  }

  /** Re-reads VirtualServices and DestinationRules (after routing config changed). */
  refreshRouting(): void {
    const objects = this.index.objects();
    this.#virtualServices = objects
      .filter((o) => o.kind === 'VirtualService')
      .map((o) => o.resource as unknown as VirtualService);
    this.#destinationRules = objects
      .filter((o) => o.kind === 'DestinationRule')
      .map((o) => o.resource as unknown as DestinationRule);
  }

  /** The resources of one Service (every port, every subset of its DestinationRule). */
  service(service: ServiceInfo): ProxylessResources {
    const out: ProxylessResources = { listeners: [], routes: [], clusters: [], endpoints: [] };
    const endpoints = this.index.endpoints(service).filter((w) => w.healthy && w.ips.length > 0);
    const dr = resolveDestinationRule({
      destinationRules: this.#destinationRules,
      host: service.hostname,
      proxyNamespace: service.namespace,
      rootNamespace: this.index.options.rootNamespace,
      domainSuffix: this.index.options.domainSuffix,
    });
    const ports = service.ports.map((p) => p.port);
    for (const { port } of service.ports) {
      const name = `${service.hostname}:${port}`;
      out.listeners.push({
        name,
        apiListener: {
          apiListener: packAny(HttpConnectionManager, {
            rds: { routeConfigName: name, configSource: { ads: {} } },
            httpFilters: ROUTER,
          }),
        },
      });
      out.routes.push({
        name,
        virtualHosts: [
          {
            name,
            domains: [service.hostname, name],
            routes: this.#routes(service, port, ports),
          },
        ],
      });
      const subsets: [string, Record<string, string> | null][] = [['', null]];
      for (const [subset, def] of dr?.subsets ?? []) subsets.push([subset, def.labels ?? {}]);
      for (const [subset, labels] of subsets) {
        const cluster = clusterName(port, subset, service.hostname);
        out.clusters.push({
          name: cluster,
          type: Cluster_DiscoveryType.EDS,
          edsClusterConfig: { edsConfig: { ads: {} } },
          lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
        });
        out.endpoints.push(this.#assignment(cluster, service, port, endpoints, labels));
      }
    }
    return out;
  }

  #assignment(
    cluster: string,
    service: ServiceInfo,
    port: number,
    workloads: readonly WorkloadInfo[],
    labels: Record<string, string> | null,
  ): DeepPartial<ClusterLoadAssignment> {
    const seen = new Set<string>();
    const lbEndpoints: DeepPartial<ClusterLoadAssignment>['endpoints'] = [];
    const list: { endpoint: { address: { socketAddress: { address: string; portValue: number } } } }[] = [];
    for (const w of workloads) {
      if (labels && !Object.entries(labels).every(([k, v]) => w.labels[k] === v)) continue;
      const target = w.services.get(service.resourceName)?.get(port);
      if (!target) continue;
      for (const ip of w.ips) {
        const key = `${ip}:${target}`;
        if (seen.has(key)) continue;
        seen.add(key);
        list.push({ endpoint: { address: { socketAddress: { address: ip, portValue: target } } } });
      }
    }
    list.sort((a, b) => {
      const x = a.endpoint.address.socketAddress;
      const y = b.endpoint.address.socketAddress;
      return x.address < y.address ? -1 : x.address > y.address ? 1 : x.portValue - y.portValue;
    });
    if (list.length > 0) lbEndpoints.push({ locality: {}, loadBalancingWeight: { value: 1 }, lbEndpoints: list });
    return { clusterName: cluster, endpoints: lbEndpoints };
  }

  #routes(service: ServiceInfo, port: number, ports: number[]): DeepPartial<Route>[] {
    const defaultRoute: DeepPartial<Route> = {
      name: 'default',
      match: { prefix: '' },
      route: { cluster: clusterName(port, '', service.hostname) },
    };
    const [vs] = selectVirtualServices(
      this.#virtualServices,
      { hostname: service.hostname, namespace: service.namespace, port, ports },
      { kind: 'sidecar', namespace: service.namespace },
      this.index.options.domainSuffix,
    );
    if (!vs) return [defaultRoute];
    const vsNamespace = vs.metadata?.namespace ?? service.namespace;
    const routes: DeepPartial<Route>[] = [];
    for (const [i, http] of ((vs.spec?.http ?? []) as VsRoute[]).entries()) {
      const action = this.#action(http, vsNamespace, port);
      if (!action) continue;
      const matches = http.match?.length ? http.match : [{}];
      for (const [j, match] of matches.entries()) {
        const converted = convertMatch(match);
        if (!converted) continue;
        routes.push({ name: http.name ?? `${vs.metadata?.name ?? 'vs'}.${i}.${j}`, match: converted, route: action });
      }
    }
    return routes.length > 0 ? routes : [defaultRoute];
  }

  #action(http: VsRoute, namespace: string, port: number): DeepPartial<Route>['route'] | undefined {
    const destinations = (http.route ?? []).filter((d) => d.destination?.host);
    if (destinations.length === 0) return undefined;
    const clusterOf = (d: NonNullable<VsRoute['route']>[number]) => {
      const host = resolveHost(d.destination!.host!, namespace, this.index.options.domainSuffix);
      return clusterName(d.destination?.port?.number ?? port, d.destination?.subset ?? '', host);
    };
    const action: DeepPartial<NonNullable<Route['route']>> = {};
    if (destinations.length === 1) action.cluster = clusterOf(destinations[0]!);
    else {
      const weighted = destinations.map((d) => ({ name: clusterOf(d), weight: { value: d.weight ?? 0 } }));
      if (weighted.every((w) => w.weight.value === 0)) for (const w of weighted) w.weight.value = 1;
      action.weightedClusters = { clusters: weighted.filter((w) => w.weight.value > 0) };
    }
    if (http.timeout) {
      try {
        const ms = parseDuration(http.timeout);
        if (ms > 0) action.maxStreamDuration = { maxStreamDuration: durationOf(ms) };
      } catch {
        // validated by the config store; an unparsable timeout is left out
      }
    }
    const retryOn = (http.retries?.retryOn ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => GRPC_RETRY_ON.has(s));
    if ((http.retries?.attempts ?? 0) > 0 && retryOn.length > 0)
      action.retryPolicy = { retryOn: retryOn.join(','), numRetries: { value: http.retries!.attempts! } };
    return action;
  }
}

/** A VirtualService HTTPMatchRequest as an Envoy RouteMatch, or undefined when gRPC cannot express it. */
function convertMatch(match: NonNullable<VsRoute['match']>[number]): DeepPartial<Route>['match'] | undefined {
  const out: DeepPartial<NonNullable<Route['match']>> = {};
  const uri = match.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = uri?.prefix ?? '';
  const headers: NonNullable<DeepPartial<NonNullable<Route['match']>>['headers']> = [];
  for (const [name, m] of Object.entries(match.headers ?? {})) {
    if (m.exact !== undefined) headers.push({ name, stringMatch: { exact: m.exact } });
    else if (m.prefix !== undefined) headers.push({ name, stringMatch: { prefix: m.prefix } });
    else if (m.regex !== undefined) headers.push({ name, stringMatch: { safeRegex: { regex: m.regex } } });
    else headers.push({ name, presentMatch: true });
  }
  if (headers.length) out.headers = headers;
  // Matches on things a gRPC client does not route on (query, method, source, authority, port) never match here.
  for (const key of Object.keys(match))
    if (!['uri', 'headers', 'name', 'ignoreUriCase'].includes(key)) return undefined;
  if (match.ignoreUriCase === true) out.caseSensitive = { value: false };
  return out;
}
