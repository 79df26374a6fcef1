// What the data path reads: one immutable snapshot of the waypoint's world (its services with compiled route tables,
// the policies as an authorizer, and the endpoints of every host a route can name). Two sources build it: a config
// directory through @mesh/config's ambient index (file mode) and istiod's mesh.waypoint.v1 + Address resources over
// delta xDS. A new snapshot replaces the old one whole; requests in flight finish on the one they started with.
import type { Authorizer } from '@mesh/authz';
import {
  compileRouteTable,
  compileTcpRouteTable,
  type DestinationRule,
  type GatewayTCPRoute,
  type RouteTable,
  type TcpRouteTable,
  type VirtualService,
} from '@mesh/l7';

export interface EndpointView {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  /** Pod labels in file mode; over xDS only the canonical ones (app/version from canonical name/revision). */
  readonly labels: Readonly<Record<string, string>>;
  /** SPIFFE ID the pod's HBONE server presents. */
  readonly identity: string;
  /** Service resource name (`<ns>/<hostname>`) → service port → target port. */
  readonly services: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly healthy: boolean;
}

export interface ServicePortView {
  readonly port: number;
  readonly targetPort: number;
  readonly name?: string;
  readonly protocol?: string;
}

export interface ServiceView {
  /** `<namespace>/<hostname>`, the Address resource name. */
  readonly key: string;
  readonly hostname: string;
  readonly namespace: string;
  readonly name: string;
  readonly kind: 'Service' | 'ServiceEntry';
  readonly vips: readonly string[];
  readonly ports: readonly ServicePortView[];
  /** Route tables by service port (bound services only). */
  readonly tables: ReadonlyMap<number, RouteTable>;
  /** The DestinationRules istiod sent with the service (a mirror's subset is resolved from them). */
  readonly destinationRules: readonly DestinationRule[];
  /** L4 routes (TCPRoute, VirtualService `tls`/`tcp`) of a port, compiled on first use. */
  tcpTable(port: number): TcpRouteTable;
  /** Set for workload-addressed traffic: the pod that is the only destination. */
  readonly workloadEndpoint?: EndpointView;
}

export interface WaypointIdentityView {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly domainSuffix: string;
}

export interface WaypointView {
  /** Increments with every snapshot. */
  readonly version: number;
  readonly waypoint: WaypointIdentityView;
  /** Services bound to this waypoint. */
  readonly services: readonly ServiceView[];
  readonly authorizer: Authorizer;
  /** AuthorizationPolicies and RequestAuthentications, for config_dump. */
  readonly policies: readonly { kind: string; namespace: string; name: string }[];
  /** A bound service by one of its VIPs, or by hostname. */
  serviceFor(host: string): ServiceView | undefined;
  /** A workload bound to this waypoint itself (`istio.io/use-waypoint` on the pod), by IP: workload-addressed traffic. */
  workloadFor(ip: string): EndpointView | undefined;
  /** Every endpoint of a destination host (any service the mesh knows, bound or not). */
  endpoints(hostname: string): readonly { endpoint: EndpointView; serviceKey: string }[];
}

/** A config source (file or xDS): it calls its `onView` with every new snapshot until closed. */
export interface ConfigSource extends AsyncDisposable {
  close(): Promise<void>;
}

/** Selects `endpoints` whose labels include `subset`'s. */
export function matchesSubset(
  labels: Readonly<Record<string, string>>,
  subset: Readonly<Record<string, string>> | null,
): boolean {
  if (!subset) return true;
  for (const [k, v] of Object.entries(subset)) if (labels[k] !== v) return false;
  return true;
}

export class ViewIndex {
  readonly #byHost = new Map<string, ServiceView>();
  readonly #byVip = new Map<string, ServiceView>();
  readonly #endpoints = new Map<string, { endpoint: EndpointView; serviceKey: string }[]>();
  readonly #workloads = new Map<string, EndpointView>();

  constructor(
    services: readonly ServiceView[],
    endpoints: Iterable<EndpointView>,
    hostKeys: Map<string, string>,
    boundWorkloads: ReadonlySet<string> = new Set(),
  ) {
    for (const s of services) {
      this.#byHost.set(s.hostname, s);
      for (const vip of s.vips) this.#byVip.set(vip, s);
    }
    const keyToHost = new Map<string, string>();
    for (const [host, key] of hostKeys) keyToHost.set(key, host);
    for (const e of endpoints) {
      if (boundWorkloads.has(e.uid)) {
        this.#workloads.set(e.ip, e);
        // Its IP is a destination host of its own (workload-addressed traffic), on whatever port was dialed.
        this.#endpoints.set(e.ip, [{ endpoint: e, serviceKey: `workload/${e.uid}` }]);
      }
      for (const key of e.services.keys()) {
        const host = keyToHost.get(key) ?? key.slice(key.indexOf('/') + 1);
        let list = this.#endpoints.get(host);
        if (!list) this.#endpoints.set(host, (list = []));
        list.push({ endpoint: e, serviceKey: key });
      }
    }
  }

  workloadFor(ip: string): EndpointView | undefined {
    return this.#workloads.get(ip);
  }

  serviceFor(host: string): ServiceView | undefined {
    return this.#byVip.get(host) ?? this.#byHost.get(host);
  }

  endpoints(hostname: string): readonly { endpoint: EndpointView; serviceKey: string }[] {
    return this.#endpoints.get(hostname) ?? [];
  }
}

/** Per-port L4 route tables of a service, compiled when a non-HTTP connection first needs one. */
export function lazyTcpTables(
  service: { hostname: string; namespace: string; ports: readonly number[] },
  objects: {
    virtualServices: readonly VirtualService[];
    tcpRoutes: readonly GatewayTCPRoute[];
    destinationRules: readonly DestinationRule[];
    proxyNamespace: string;
    domainSuffix: string;
    rootNamespace: string;
  },
): (port: number) => TcpRouteTable {
  const tables = new Map<number, TcpRouteTable>();
  return (port) => {
    let table = tables.get(port);
    if (!table) {
      table = compileTcpRouteTable({
        service: { hostname: service.hostname, namespace: service.namespace, port, ports: [...service.ports] },
        virtualServices: objects.virtualServices,
        tcpRoutes: objects.tcpRoutes,
        destinationRules: objects.destinationRules,
        proxyNamespace: objects.proxyNamespace,
        domainSuffix: objects.domainSuffix,
        rootNamespace: objects.rootNamespace,
        validate: false,
      });
      tables.set(port, table);
    }
    return table;
  };
}

/**
 * The stand-in service of workload-addressed traffic: the pod's IP as the host, on the port dialed, with the default
 * route (no VirtualService applies to a pod) and the pod as the only endpoint (ViewIndex files bound workloads under
 * their IP).
 */
export function workloadService(w: EndpointView, port: number): ServiceView {
  const service = { hostname: w.ip, namespace: w.namespace, ports: [port] };
  return {
    key: `workload/${w.uid}`,
    hostname: w.ip,
    namespace: w.namespace,
    name: w.name,
    kind: 'Service',
    vips: [],
    ports: [{ port, targetPort: port }],
    tables: new Map([
      [
        port,
        compileRouteTable({
          service: { ...service, port },
          proxy: { kind: 'waypoint', namespace: w.namespace },
          resources: [],
          hostExists: () => true,
          validate: false,
        }),
      ],
    ]),
    destinationRules: [],
    tcpTable: lazyTcpTables(service, {
      virtualServices: [],
      tcpRoutes: [],
      destinationRules: [],
      proxyNamespace: w.namespace,
      domainSuffix: 'cluster.local',
      rootNamespace: 'istio-system',
    }),
    workloadEndpoint: w,
  };
}
