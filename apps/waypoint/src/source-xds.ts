// xDS mode: the waypoint subscribes to its own Waypoint and WaypointServices and to Address (endpoints of every host
// a route may name) on istiod's delta ADS stream, and compiles the route tables itself (docs/waypoint-xds.md).
import { fromStruct } from '@mesh/api';
import type { Address } from '@mesh/api/istio.workload';
import type { Waypoint, WaypointService } from '@mesh/api/mesh.waypoint.v1';
import { createAuthorizer } from '@mesh/authz';
import {
  compileRouteTable,
  type DestinationRule,
  type GatewayHTTPRoute,
  type GRPCRoute,
  type RouteTable,
  type VirtualService,
} from '@mesh/l7';
import { addressType, istioNodeId, waypointServiceType, waypointType, XdsClient } from '@mesh/xds';
import type { Logger } from './log.js';
import { ViewIndex, type ConfigSource, type EndpointView, type ServiceView, type WaypointView } from './model.js';

export interface XdsSourceOptions {
  address: string;
  namespace: string;
  name: string;
  ip: string;
  tokenFile: string;
  rootCertPem: () => string;
  serverName: string;
  clusterId: string;
  log: Logger;
  onView: (view: WaypointView | undefined) => void;
}

function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) parts.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return parts.join(':');
}

export function compileService(waypoint: Waypoint, service: WaypointService): ServiceView {
  const objects = service.routing.map((r) => fromStruct(r.object) as { kind?: string });
  const ofKind = <T>(kind: string) => objects.filter((o) => o.kind === kind) as unknown as T[];
  const hosts = new Map(service.hosts.map((h) => [h.hostname, h.ports]));
  const ports = service.ports.map((p) => p.port);
  const tables = new Map<number, RouteTable>();
  for (const port of ports)
    tables.set(
      port,
      compileRouteTable({
        service: { hostname: service.hostname, namespace: service.namespace, port, ports },
        proxy: { kind: 'waypoint', namespace: waypoint.namespace },
        virtualServices: ofKind<VirtualService>('VirtualService'),
        destinationRules: ofKind<DestinationRule>('DestinationRule'),
        httpRoutes: ofKind<GatewayHTTPRoute>('HTTPRoute'),
        grpcRoutes: ofKind<GRPCRoute>('GRPCRoute'),
        domainSuffix: waypoint.domainSuffix,
        rootNamespace: waypoint.rootNamespace,
        servicePorts: (host) => hosts.get(host),
        hostExists: (host) => hosts.has(host),
        validate: false,
      }),
    );
  return {
    key: `${service.namespace}/${service.hostname}`,
    hostname: service.hostname,
    namespace: service.namespace,
    name: service.name,
    kind: service.kind === 'ServiceEntry' ? 'ServiceEntry' : 'Service',
    vips: [],
    ports: service.ports.map((p) => ({
      port: p.port,
      targetPort: p.targetPort || p.port,
      ...(p.name ? { name: p.name } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
    })),
    tables,
    destinationRules: ofKind<DestinationRule>('DestinationRule'),
  };
}

export function viewFromResources(
  waypoint: Waypoint,
  services: readonly WaypointService[],
  addresses: readonly Address[],
  version: number,
): WaypointView {
  const vipsByKey = new Map<string, string[]>();
  const hostKeys = new Map<string, string>();
  const endpoints: EndpointView[] = [];
  for (const a of addresses) {
    if (a.service) {
      const key = `${a.service.namespace}/${a.service.hostname}`;
      hostKeys.set(a.service.hostname, key);
      vipsByKey.set(
        key,
        a.service.addresses.map((n) => ipText(n.address)),
      );
    } else if (a.workload && a.workload.addresses.length > 0) {
      const w = a.workload;
      const labels: Record<string, string> = {};
      // The Workload resource carries no labels: subsets match on the canonical ones (Istio's defaults for them
      // are the app and version labels), which is what most DestinationRule subsets select on.
      if (w.canonicalName) labels.app = labels['service.istio.io/canonical-name'] = w.canonicalName;
      if (w.canonicalRevision) labels.version = labels['service.istio.io/canonical-revision'] = w.canonicalRevision;
      const svc = new Map<string, Map<number, number>>();
      for (const [key, list] of Object.entries(w.services))
        svc.set(key, new Map(list.ports.map((p) => [p.servicePort, p.targetPort || p.servicePort])));
      endpoints.push({
        uid: w.uid,
        name: w.name,
        namespace: w.namespace,
        ip: ipText(w.addresses[0]!),
        labels,
        identity: `spiffe://${w.trustDomain || waypoint.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount || 'default'}`,
        services: svc,
        healthy: w.status === 0,
      });
    }
  }
  const views = services.map((s) => {
    const view = compileService(waypoint, s);
    return { ...view, vips: vipsByKey.get(view.key) ?? [] };
  });
  const lookup = new ViewIndex(views, endpoints, hostKeys);
  const resources = waypoint.policies.map((p) => fromStruct(p.object));
  return {
    version,
    waypoint: {
      name: waypoint.name,
      namespace: waypoint.namespace,
      identity: waypoint.identity,
      trustDomain: waypoint.trustDomain,
      rootNamespace: waypoint.rootNamespace,
      domainSuffix: waypoint.domainSuffix,
    },
    services: views,
    authorizer: createAuthorizer({
      resources,
      rootNamespace: waypoint.rootNamespace,
      trustDomain: waypoint.trustDomain,
      onInvalid: 'skip',
    }),
    policies: waypoint.policies.map((p) => ({ kind: p.kind, namespace: p.namespace, name: p.name })),
    serviceFor: (host) => lookup.serviceFor(host),
    endpoints: (host) => lookup.endpoints(host),
  };
}

export function openXdsSource(options: XdsSourceOptions): ConfigSource & { client: XdsClient } {
  const client = new XdsClient({
    server: options.address,
    node: {
      id: istioNodeId({
        type: 'waypoint',
        ip: options.ip,
        podName: `${options.name}-${process.pid}`,
        namespace: options.namespace,
      }),
      metadata: {
        NAMESPACE: options.namespace,
        LABELS: { 'gateway.networking.k8s.io/gateway-name': options.name },
      } as never,
    },
    tls: () => ({ ca: options.rootCertPem(), serverName: options.serverName }),
    token: { file: options.tokenFile },
    metadata: { clusterid: options.clusterId },
  });
  const waypoints = client.subscribe(waypointType);
  const services = client.subscribe(waypointServiceType);
  const addresses = client.subscribe(addressType);
  let version = 0;
  let scheduled = false;
  const key = `${options.namespace}/${options.name}`;
  const rebuild = () => {
    scheduled = false;
    const own = waypoints.get(key)?.resource;
    if (!own) {
      options.onView(undefined);
      return;
    }
    try {
      options.onView(
        viewFromResources(
          own,
          [...services.values()].map((r) => r.resource),
          [...addresses.values()].map((r) => r.resource),
          ++version,
        ),
      );
    } catch (error) {
      options.log.error({ err: error }, 'cannot build the config from istiod; keeping the last good one');
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(rebuild);
  };
  waypoints.onChange(schedule);
  services.onChange(schedule);
  addresses.onChange(schedule);
  client.on('disconnected', ({ error, reconnectInMs }) =>
    options.log.warn({ code: error.code, err: error.message, reconnectInMs }, 'xDS stream to istiod lost'),
  );
  client.on('connected', () => options.log.info({ server: options.address }, 'xDS stream to istiod up'));
  const close = () => client.close();
  return { client, close, [Symbol.asyncDispose]: close };
}
