// L4 routing at a waypoint: VirtualService `tls` and `tcp` routes and Gateway API TCPRoute, for connections that are
// not HTTP (reference §3.14). Weights apply per connection.
import type { Rng } from '@mesh/core';
import {
  DEFAULT_TRAFFIC_POLICY,
  compareByAge,
  effectiveTrafficPolicy,
  namespaceOfHost,
  resolveDestinationRule,
  resolveHost,
  type ResolvedTrafficPolicy,
} from './destination-rule.js';
import { L7Error } from './errors.js';
import type { GatewayTCPRoute, RouteDestination } from './resources.js';
import { assertValid } from './validate.js';
import { selectVirtualServices, type CompileOptions } from './compile.js';

export interface TcpCompileOptions extends Pick<
  CompileOptions,
  'service' | 'virtualServices' | 'destinationRules' | 'domainSuffix' | 'rootNamespace' | 'validate'
> {
  /** The waypoint's namespace; default the Service's. */
  proxyNamespace?: string;
  /** Every TCPRoute; those with a parentRef to this Service (and port) apply. */
  tcpRoutes?: readonly GatewayTCPRoute[];
}

export interface TcpBackend {
  readonly host: string;
  readonly subset: string | null;
  readonly port: number;
  /** Share of connections in [0, 1]. */
  readonly weight: number;
  readonly trafficPolicy: ResolvedTrafficPolicy;
}

export interface TcpDecision {
  /** `<ns>/<name> spec.tls[i]`, `spec.tcp[i]`, `spec.rules[i]`, or "default" (straight to the Service). */
  readonly route: string;
  readonly kind: 'VirtualService' | 'TCPRoute' | 'default';
  readonly backend: TcpBackend;
  readonly backends: readonly TcpBackend[];
}

export interface TcpRouteTable {
  /** Picks the backend of one connection; `port` is the Service port (default: the table's). */
  route(connection: { port?: number }, options: { rng: Rng }): TcpDecision;
}

interface Entry {
  route: string;
  kind: TcpDecision['kind'];
  /** 0 = any port. */
  ports: number[];
  backends: TcpBackend[];
  cumulative: number[];
}

/**
 * Compiles the L4 routes of one Service at a waypoint: TCPRoutes attached to the Service, else VirtualService `tls`
 * routes whose match is exactly `sniHosts: [<service FQDN>]` (real SNI matching is not implemented at waypoints),
 * then `tcp` routes (matched on port only), else the Service itself. First match wins.
 */
export function compileTcpRouteTable(options: TcpCompileOptions): TcpRouteTable {
  const { service } = options;
  if (!service?.hostname || !(service.port >= 1 && service.port <= 65_535))
    throw new L7Error('ERR_L7_INVALID_OPTIONS', 'service needs a hostname (FQDN) and a port between 1 and 65535');
  if (options.validate ?? true)
    for (const r of [
      ...(options.virtualServices ?? []),
      ...(options.tcpRoutes ?? []),
      ...(options.destinationRules ?? []),
    ])
      assertValid(r);
  const suffix = options.domainSuffix ?? 'cluster.local';
  const proxyNamespace = options.proxyNamespace ?? service.namespace;
  const fqdn = service.hostname.toLowerCase();
  const policy = (host: string, subset: string | null, port: number) => {
    const ns = namespaceOfHost(host, suffix);
    const dr = resolveDestinationRule({
      destinationRules: options.destinationRules ?? [],
      host,
      proxyNamespace,
      ...(ns ? { serviceNamespace: ns } : {}),
      rootNamespace: options.rootNamespace ?? 'istio-system',
      domainSuffix: suffix,
    });
    return dr ? effectiveTrafficPolicy(dr, { subset, port }) : DEFAULT_TRAFFIC_POLICY;
  };
  const weighted = (
    list: { host: string; subset: string | null; port: number; weight: number }[],
  ): Pick<Entry, 'backends' | 'cumulative'> => {
    const kept = list.length === 1 ? [{ ...list[0]!, weight: 1 }] : list.filter((b) => b.weight > 0);
    const total = kept.reduce((s, b) => s + b.weight, 0);
    let acc = 0;
    const cumulative: number[] = [];
    const backends = kept.map((b) => {
      acc += b.weight;
      cumulative.push(acc);
      return {
        host: b.host,
        subset: b.subset,
        port: b.port,
        weight: b.weight / total,
        trafficPolicy: policy(b.host, b.subset, b.port),
      };
    });
    return { backends, cumulative };
  };
  const vsDest = (d: RouteDestination, ns: string) => {
    const host = resolveHost(d.destination!.host!, ns, suffix);
    return {
      host,
      subset: d.destination!.subset ?? null,
      port: d.destination!.port?.number ?? service.port,
      weight: Math.max(0, d.weight ?? 0),
    };
  };

  const entries: Entry[] = [];
  const svcName = fqdn.split('.')[0];
  const tcpRoutes = (options.tcpRoutes ?? [])
    .filter((r) =>
      (r.spec?.parentRefs ?? []).some(
        (p) =>
          p.kind === 'Service' &&
          (p.group ?? '') === '' &&
          p.name === svcName &&
          (p.namespace ?? r.metadata?.namespace ?? 'default') === service.namespace &&
          (p.port === undefined || p.port === service.port),
      ),
    )
    .sort(compareByAge);
  for (const r of tcpRoutes) {
    const ns = r.metadata?.namespace ?? 'default';
    (r.spec?.rules ?? []).forEach((rule, i) => {
      const list = (rule.backendRefs ?? []).map((b) => ({
        host: `${b.name}.${b.namespace ?? ns}.svc.${suffix}`,
        subset: null,
        port: b.port ?? service.port,
        weight: b.weight ?? 1,
      }));
      if (list.length === 0) return;
      entries.push({
        route: `${ns}/${r.metadata?.name ?? ''} spec.rules[${i}]`,
        kind: 'TCPRoute',
        ports: [],
        ...weighted(list),
      });
    });
  }
  if (entries.length === 0) {
    const vss = selectVirtualServices(
      options.virtualServices ?? [],
      service,
      { kind: 'waypoint', namespace: proxyNamespace },
      suffix,
    );
    for (const proto of ['tls', 'tcp'] as const) {
      for (const vs of vss) {
        const ns = vs.metadata?.namespace ?? 'default';
        (vs.spec?.[proto] ?? []).forEach((r, i) => {
          const matches = (r.match ?? []) as { port?: number; gateways?: string[]; sniHosts?: string[] }[];
          const live = matches.filter(
            (m) =>
              (!m.gateways?.length || m.gateways.includes('mesh')) &&
              (proto === 'tcp' || (m.sniHosts?.length === 1 && m.sniHosts[0]!.toLowerCase() === fqdn)),
          );
          if (matches.length > 0 && live.length === 0) return;
          const ports = live.length === 0 || live.some((m) => !m.port) ? [] : live.map((m) => m.port!);
          entries.push({
            route: `${ns}/${vs.metadata?.name ?? ''} spec.${proto}[${i}]`,
            kind: 'VirtualService',
            ports,
            ...weighted((r.route ?? []).map((d) => vsDest(d, ns))),
          });
        });
      }
    }
  }
  const fallback: Entry = {
    route: 'default',
    kind: 'default',
    ports: [],
    ...weighted([{ host: fqdn, subset: null, port: service.port, weight: 1 }]),
  };
  return {
    route(connection, { rng }) {
      const port = connection.port ?? service.port;
      const e = entries.find((x) => x.ports.length === 0 || x.ports.includes(port)) ?? fallback;
      const x = rng.next() * e.cumulative[e.cumulative.length - 1]!;
      const i = e.cumulative.findIndex((c) => x < c);
      const backend = e.backends[i === -1 ? e.backends.length - 1 : i]!;
      return { route: e.route, kind: e.kind, backend, backends: e.backends };
    },
  };
}
