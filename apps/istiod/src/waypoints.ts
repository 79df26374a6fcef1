// The waypoint's own xDS resources (mesh.waypoint.v1, docs/waypoint-xds.md), built from the ambient index: one
// Waypoint per waypoint Gateway and one WaypointService per Service bound to it. Everything that needs the whole mesh
// is resolved here (bindings, which routes and DestinationRules apply, which hosts exist, which policies attach);
// the waypoint compiles exactly these objects with @mesh/l7 and @mesh/authz.
import { toStruct, type DeepPartial, type JsonValue } from '@mesh/api';
import { TrafficType, type ConfigResource, type Waypoint, type WaypointService } from '@mesh/api/mesh.waypoint.v1';
import type { AmbientIndex, ConfigObject, ServiceInfo, WaypointInfo } from '@mesh/config';
import { resolveHost, selectVirtualServices, type VirtualService } from '@mesh/l7';

type Json = Record<string, JsonValue>;

const ROUTE_KINDS = new Set<string | undefined>(['HTTPRoute', 'GRPCRoute', 'TCPRoute']);
const POLICY_KINDS = new Set<string | undefined>(['AuthorizationPolicy', 'RequestAuthentication']);

const TRAFFIC: Record<WaypointInfo['trafficType'], TrafficType> = {
  service: TrafficType.SERVICE,
  workload: TrafficType.WORKLOAD,
  all: TrafficType.ALL,
  none: TrafficType.NONE,
};

function configResource(object: ConfigObject): DeepPartial<ConfigResource> {
  const resource = object.resource as unknown as Json & { apiVersion?: string };
  return {
    kind: object.kind,
    apiVersion: resource.apiVersion ?? '',
    namespace: object.namespace,
    name: object.name,
    object: toStruct(JSON.parse(JSON.stringify(resource)) as Json),
  };
}

const byKey = (a: ConfigObject, b: ConfigObject) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

interface Ref {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
}

/** Shared per rebuild: the mesh's routing and security objects, grouped once. */
export class WaypointContext {
  readonly virtualServices: ConfigObject[];
  readonly routes: ConfigObject[];
  readonly destinationRules: ConfigObject[];
  readonly policies: ConfigObject[];
  readonly servicesByName = new Map<string, ServiceInfo>();

  constructor(readonly index: AmbientIndex) {
    const objects = index.objects();
    this.virtualServices = objects.filter((o) => o.kind === 'VirtualService').sort(byKey);
    this.routes = objects.filter((o) => ROUTE_KINDS.has(o.kind)).sort(byKey);
    this.destinationRules = objects.filter((o) => o.kind === 'DestinationRule').sort(byKey);
    this.policies = objects.filter((o) => POLICY_KINDS.has(o.kind)).sort(byKey);
    for (const s of index.services()) this.servicesByName.set(s.resourceName, s);
  }

  get domainSuffix(): string {
    return this.index.options.domainSuffix;
  }

  /** The Waypoint resource and the WaypointService resources of one waypoint. */
  build(info: WaypointInfo): { waypoint: DeepPartial<Waypoint>; services: DeepPartial<WaypointService>[] } {
    const bound = info.services.map((n) => this.servicesByName.get(n)).filter((s): s is ServiceInfo => !!s);
    const waypoint: DeepPartial<Waypoint> = {
      name: info.name,
      namespace: info.namespace,
      identity: info.identity,
      trafficType: TRAFFIC[info.trafficType],
      services: [...info.services],
      workloads: [...info.workloads],
      policies: this.#policies(info, bound).map(configResource),
      trustDomain: this.index.options.trustDomain,
      rootNamespace: this.index.options.rootNamespace,
      domainSuffix: this.domainSuffix,
    };
    return { waypoint, services: bound.map((s) => this.#service(info, s)) };
  }

  #policies(info: WaypointInfo, services: readonly ServiceInfo[]): ConfigObject[] {
    const root = this.index.options.rootNamespace;
    const targets = new Set<string>([`Gateway/${info.namespace}/${info.name}`, `GatewayClass/${root}/istio-waypoint`]);
    for (const s of services) targets.add(`${s.kind}/${s.namespace}/${s.name}`);
    return this.policies.filter((o) => {
      const spec = ((o.resource as unknown as Json).spec ?? {}) as {
        targetRefs?: Ref[];
        targetRef?: Ref;
        selector?: unknown;
      };
      const refs = [...(spec.targetRefs ?? []), ...(spec.targetRef ? [spec.targetRef] : [])];
      if (refs.length > 0)
        return refs.some((ref) =>
          targets.has(
            `${ref.kind ?? ''}/${ref.kind === 'GatewayClass' ? root : (ref.namespace ?? o.namespace)}/${ref.name ?? ''}`,
          ),
        );
      return !spec.selector && (o.namespace === info.namespace || o.namespace === root);
    });
  }

  #service(info: WaypointInfo, service: ServiceInfo): DeepPartial<WaypointService> {
    const proxy = { kind: 'waypoint' as const, namespace: info.namespace };
    const ports = service.ports.map((p) => p.port);
    const ref = { hostname: service.hostname, namespace: service.namespace, port: ports[0] ?? 80, ports };

    // VirtualServices that apply at this waypoint, and the delegates they name.
    const selected = new Set(
      selectVirtualServices(
        this.virtualServices.map((o) => o.resource as unknown as VirtualService),
        ref,
        proxy,
        this.domainSuffix,
      ),
    );
    const vs = this.virtualServices.filter((o) => selected.has(o.resource as unknown as VirtualService));
    const delegates = new Set<string>();
    for (const o of vs)
      for (const http of (((o.resource as unknown as Json).spec as Json | undefined)?.http ?? []) as Json[]) {
        const d = http.delegate as { name?: string; namespace?: string } | undefined;
        if (d?.name) delegates.add(`VirtualService/${d.namespace ?? o.namespace}/${d.name}`);
      }
    const vsAll = this.virtualServices.filter(
      (o) => selected.has(o.resource as unknown as VirtualService) || delegates.has(o.key),
    );

    // Gateway API routes whose parentRefs name this Service (GAMMA) or ServiceEntry.
    const routes = this.routes.filter((o) =>
      ((((o.resource as unknown as Json).spec as Json | undefined)?.parentRefs ?? []) as Ref[]).some(
        (p) =>
          (p.kind ?? 'Gateway') === service.kind &&
          (p.name ?? '') === service.name &&
          (p.namespace ?? o.namespace) === service.namespace,
      ),
    );

    // Destination hosts named by the routing, and the DestinationRules that cover any of them.
    const hosts = new Set<string>([service.hostname.toLowerCase()]);
    const addHost = (host: unknown, ns: string) => {
      if (typeof host === 'string' && host) hosts.add(resolveHost(host, ns, this.domainSuffix));
    };
    for (const o of vsAll)
      collectVsHosts((o.resource as unknown as Json).spec as Json | undefined, (h) => addHost(h, o.namespace));
    for (const o of routes)
      collectRouteHosts((o.resource as unknown as Json).spec as Json | undefined, o.namespace, this.domainSuffix, (h) =>
        hosts.add(h.toLowerCase()),
      );
    const drs = this.destinationRules.filter((o) => {
      const host = ((o.resource as unknown as Json).spec as Json | undefined)?.host;
      if (typeof host !== 'string') return false;
      const pattern = resolveHost(host, o.namespace, this.domainSuffix);
      for (const h of hosts) if (hostCovers(pattern, h)) return true;
      return false;
    });

    const known: { hostname: string; ports: number[] }[] = [];
    for (const h of [...hosts].sort()) {
      const s = this.index.servicesByHost(h)[0];
      if (s) known.push({ hostname: h, ports: s.ports.map((p) => p.port) });
    }

    const portRoutes = service.ports.map((p) => {
      const table = this.index.routeTable({ namespace: info.namespace, name: info.name }, service, p.port);
      return {
        port: p.port,
        source: table.source,
        routes: table.routes.map((r) => ({
          name: r.name,
          kind: r.kind,
          resource: r.resource ?? '',
          ruleIndex: r.ruleIndex,
        })),
        diagnostics: table.diagnostics.map((d) => ({
          resource: d.resource ?? '',
          path: d.path ?? '',
          message: d.message,
        })),
      };
    });

    return {
      waypoint: `${info.namespace}/${info.name}`,
      service: service.resourceName,
      hostname: service.hostname,
      namespace: service.namespace,
      name: service.name,
      kind: service.kind,
      ports: service.ports.map((p) => ({
        port: p.port,
        targetPort: typeof p.targetPort === 'number' ? p.targetPort : 0,
        targetPortName: typeof p.targetPort === 'string' ? p.targetPort : '',
        name: p.name ?? '',
        protocol: p.protocol ?? '',
      })),
      portRoutes,
      routing: [...vsAll, ...routes, ...drs].sort(byKey).map(configResource),
      hosts: known,
    };
  }
}

/** Whether a DestinationRule host (exact or `*.suffix`) covers a destination host. */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function collectVsHosts(spec: Json | undefined, add: (host: unknown) => void): void {
  if (!spec) return;
  for (const section of ['http', 'tcp', 'tls'] as const)
    for (const route of (spec[section] ?? []) as Json[]) {
      for (const dest of (route.route ?? []) as Json[]) add((dest.destination as Json | undefined)?.host);
      add((route.mirror as Json | undefined)?.host);
      for (const m of (route.mirrors ?? []) as Json[]) add((m.destination as Json | undefined)?.host);
    }
}

function collectRouteHosts(
  spec: Json | undefined,
  namespace: string,
  domain: string,
  add: (host: string) => void,
): void {
  if (!spec) return;
  const backend = (ref: Json | undefined) => {
    if (!ref || typeof ref.name !== 'string') return;
    const kind = (ref.kind as string | undefined) ?? 'Service';
    if (kind === 'Hostname') add(ref.name);
    else if (kind === 'Service') add(`${ref.name}.${(ref.namespace as string | undefined) ?? namespace}.svc.${domain}`);
  };
  for (const rule of (spec.rules ?? []) as Json[]) {
    for (const ref of (rule.backendRefs ?? []) as Json[]) backend(ref);
    for (const filter of (rule.filters ?? []) as Json[])
      backend((filter.requestMirror as Json | undefined)?.backendRef as Json | undefined);
  }
}
