// Outbound decisions (ztunnel's build_request), pure over the state: where a pod's connection to ip:port goes — HBONE
// to the destination pod, HBONE to a waypoint with the original destination as :authority, plain TCP to a workload
// outside the mesh, or passthrough for addresses the mesh does not know. Randomness (endpoint choice) is injected.
import type { Rng } from '@mesh/core';
import { formatIp } from '@mesh/xds';
import type { GatewayAddress } from '@mesh/api/istio.workload';
import { formatGatewayAddress, TUNNEL_HBONE, type ServiceView, type WorkloadView, type ZtunnelState } from './state.js';

/** ztunnel's own ports: a connection to one of them on a pod IP is a loop (SelfCall). */
export const ILLEGAL_PORTS: ReadonlySet<number> = new Set([15001, 15006, 15008, 15080]);
export const HBONE_PORT = 15008;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type OutboundPlan =
  | {
      readonly kind: 'hbone';
      /** The next hop's HBONE listener (pod:15008 or waypoint:15008). */
      readonly via: HostPort;
      /** The CONNECT :authority. */
      readonly authority: HostPort;
      readonly expectedIdentities: readonly string[];
      /** The destination workload (for a waypoint hop: the waypoint's workload). */
      readonly workload: WorkloadView;
      readonly service: ServiceView | undefined;
      /** Set when the hop is a waypoint: `<ns>/<hostname>` or `<network>/<ip>` of it. */
      readonly waypoint: string | undefined;
    }
  | {
      readonly kind: 'tcp';
      readonly target: HostPort;
      readonly workload: WorkloadView | undefined;
      readonly service: ServiceView | undefined;
      /** passthrough: the destination is not in the mesh at all. */
      readonly passthrough: boolean;
    }
  | {
      readonly kind: 'error';
      readonly code: 'ERR_ZTUNNEL_NO_HEALTHY_UPSTREAM' | 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE' | 'ERR_ZTUNNEL_SELF_CALL';
      readonly message: string;
      readonly service: ServiceView | undefined;
      readonly waypoint: string | undefined;
    };

const pick = <T>(items: readonly T[], rng: Rng): T | undefined =>
  items.length === 0 ? undefined : items[Math.min(items.length - 1, Math.floor(rng.next() * items.length))];

const healthy = (w: WorkloadView) => w.workload.status === 0 && w.ips.length > 0;

/** The target port a service port maps to on one endpoint (its services map), else the service's own mapping. */
function targetPort(service: ServiceView, endpoint: WorkloadView, port: number): number | undefined {
  const own = endpoint.workload.services?.[service.key]?.ports.find((p) => p.servicePort === port);
  if (own) return own.targetPort || port;
  const declared = service.service.ports.find((p) => p.servicePort === port);
  if (declared) return declared.targetPort || port;
  return undefined;
}

/** Resolves a GatewayAddress (a waypoint) to one of its workloads and the identities it may present. */
export function resolveGateway(
  state: ZtunnelState,
  gateway: GatewayAddress,
  rng: Rng,
): { workload: WorkloadView; via: HostPort; identities: string[] } | { error: string } {
  const port = gateway.hboneMtlsPort || HBONE_PORT;
  let service: ServiceView | undefined;
  let candidates: WorkloadView[] = [];
  if (gateway.hostname) {
    service = state.serviceByHostname(gateway.hostname.hostname, gateway.hostname.namespace);
    if (!service)
      return {
        error: `the waypoint service ${formatGatewayAddress(gateway)} is unknown (its Gateway may be missing or misnamed in istio.io/use-waypoint; see meshctl waypoint status)`,
      };
    candidates = state.endpoints(service.key).filter(healthy);
  } else if (gateway.address) {
    const ip = formatIp(gateway.address.address);
    service = state.serviceByVip(ip);
    if (service) candidates = state.endpoints(service.key).filter(healthy);
    else {
      const w = state.workloadByIp(ip);
      if (w && healthy(w)) candidates = [w];
    }
  }
  const workload = pick(candidates, rng);
  if (!workload)
    return {
      error: `the waypoint ${formatGatewayAddress(gateway)} has no healthy workload (is the waypoint running?)`,
    };
  return {
    workload,
    via: { host: workload.ips[0]!, port },
    identities: [workload.identity, ...(service?.service.subjectAltNames ?? [])],
  };
}

export interface OutboundRequest {
  /** The pod the connection comes from. */
  readonly source: WorkloadView;
  readonly destination: HostPort;
}

export function planOutbound(state: ZtunnelState, request: OutboundRequest, rng: Rng): OutboundPlan {
  const { destination, source } = request;
  const service = state.serviceByVip(destination.host);
  let workload: WorkloadView | undefined;
  let port = destination.port;
  if (service) {
    if (service.service.waypoint) return viaWaypoint(state, service.service.waypoint, request, service, rng);
    const endpoints = state
      .endpoints(service.key)
      .filter((w) => healthy(w) && targetPort(service, w, port) !== undefined);
    workload = pick(endpoints, rng);
    if (!workload)
      return {
        kind: 'error',
        code: 'ERR_ZTUNNEL_NO_HEALTHY_UPSTREAM',
        message: `service ${service.service.hostname} has no healthy endpoint for port ${port}`,
        service,
        waypoint: undefined,
      };
    port = targetPort(service, workload, port)!;
  } else {
    workload = state.workloadByIp(destination.host);
    if (!workload)
      return { kind: 'tcp', target: destination, workload: undefined, service: undefined, passthrough: true };
    // A workload-addressed destination with a waypoint for workload traffic, unless we are that waypoint.
    if (workload.workload.waypoint && !isWaypointOf(state, source, workload.workload.waypoint))
      return viaWaypoint(state, workload.workload.waypoint, request, undefined, rng);
  }
  const ip = workload.ips[0]!;
  if (ILLEGAL_PORTS.has(port))
    return {
      kind: 'error',
      code: 'ERR_ZTUNNEL_SELF_CALL',
      message: `${ip}:${port} is a ztunnel port`,
      service,
      waypoint: undefined,
    };
  const svc = service ?? state.serviceForTarget(workload, port);
  if (workload.workload.tunnelProtocol !== TUNNEL_HBONE)
    return { kind: 'tcp', target: { host: ip, port }, workload, service: svc, passthrough: false };
  return {
    kind: 'hbone',
    via: { host: ip, port: HBONE_PORT },
    authority: { host: ip, port },
    expectedIdentities: [workload.identity, ...(service?.service.subjectAltNames ?? [])],
    workload,
    service: svc,
    waypoint: undefined,
  };
}

function isWaypointOf(state: ZtunnelState, source: WorkloadView, gateway: GatewayAddress): boolean {
  if (gateway.hostname) {
    const svc = state.serviceByHostname(gateway.hostname.hostname, gateway.hostname.namespace);
    return !!svc && Object.hasOwn(source.workload.services ?? {}, svc.key);
  }
  return !!gateway.address && source.ips.includes(formatIp(gateway.address.address));
}

function viaWaypoint(
  state: ZtunnelState,
  gateway: GatewayAddress,
  request: OutboundRequest,
  service: ServiceView | undefined,
  rng: Rng,
): OutboundPlan {
  const name = formatGatewayAddress(gateway) ?? 'waypoint';
  const resolved = resolveGateway(state, gateway, rng);
  if ('error' in resolved)
    return {
      kind: 'error',
      code: 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE',
      message: resolved.error,
      service,
      waypoint: name,
    };
  return {
    kind: 'hbone',
    via: resolved.via,
    authority: request.destination,
    expectedIdentities: resolved.identities,
    workload: resolved.workload,
    service,
    waypoint: name,
  };
}
